"""Declare the options of the demo command, ``run_performance_demo``."""

from __future__ import annotations

from django.core.management.base import CommandParser


def add_demo_arguments(parser: CommandParser) -> None:
    """Add the demo command's options to ``parser``; values are checked later."""
    _add_run_arguments(parser)
    _add_load_arguments(parser)
    _add_baseline_arguments(parser)


def _add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--output-file",
        metavar="PATH",
        help="Also write the report as JSON to PATH (replaced atomically).",
    )
    parser.add_argument(
        "--html",
        metavar="PATH",
        help=(
            "Also write the report as one self-contained HTML page with "
            "charts to PATH (needs the 'report' extra: matplotlib)."
        ),
    )
    parser.add_argument(
        "--html-file",
        metavar="PATH",
        help="Same as --html (the option's earlier name).",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Print each measurement as it happens.",
    )
    parser.add_argument(
        "--scenarios",
        metavar="A,B",
        help=(
            "Comma-separated scenarios to run, in that order (default: all). "
            "Built in: database_operations, api_requests, "
            "concurrent_operations, memory_intensive, error_scenarios; "
            "load only when named (or with --load)."
        ),
    )
    parser.add_argument(
        "--time-scale",
        metavar="F",
        default="1.0",
        help=(
            "Multiply every injected latency and every time threshold by F "
            "(from 0.001 to 10; default 1.0)."
        ),
    )
    parser.add_argument(
        "--seed",
        metavar="N",
        default="42",
        help=(
            "Seed for sample data and worker durations, 0 to 2,147,483,647 "
            "(default 42)."
        ),
    )


def _add_load_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--load",
        action="store_true",
        help=(
            "Run the load test: concurrent clients send requests to five "
            "endpoints over HTTP; alone, or after the --scenarios named."
        ),
    )
    parser.add_argument(
        "--clients",
        metavar="C",
        help="Concurrent load clients, 1 to 64 (default 4); implies --load.",
    )
    parser.add_argument(
        "--requests",
        metavar="N",
        help="Requests the load test sends in all, 1 to 100,000 (default 100); "
        "implies --load.",
    )
    parser.add_argument(
        "--load-time-limit",
        metavar="S",
        help="Start no load request after S seconds (default 300, at most "
        "3600); implies --load.",
    )


def _add_baseline_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--repeat",
        metavar="N",
        default="1",
        help="Run the scenarios N times; the JSON keeps every run (default 1).",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="Compare this run with a saved report and print the changes.",
    )
    parser.add_argument(
        "--tolerance",
        metavar="PERCENT",
        help=(
            "Smallest timing change that counts against --baseline, in %% (default 10)."
        ),
    )
    parser.add_argument(
        "--fail-on",
        metavar="WHAT",
        action="append",
        help=(
            "Exit with status 1 on 'regression' (needs --baseline), 'queries' "
            "(more queries or N+1 queries than --baseline; timings shown but "
            "not gating) or 'critical' (a critical recommendation); repeat or "
            "use commas."
        ),
    )
