"""Compare two saved perfprobe reports and optionally fail on a regression."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...compare.cli import (
    DEFAULT_TOLERANCE_PERCENT,
    load_report_option,
    parse_fail_on,
    parse_tolerance,
    run_gate,
)
from ..base import PerfprobeCommand


class Command(PerfprobeCommand):
    help = (
        "Compare two perfprobe JSON reports: per scenario, operation and endpoint "
        "the change in median and p95 (faster, slower or unchanged within noise), "
        "and exactly the queries per request of each endpoint, per scope of each "
        "N+1 finding and per run of each scenario (run totals only when both "
        "served the same work). Exit status: 0 no --fail-on condition met, 1 a "
        "--fail-on condition met, 2 bad options or input (or a fault of the "
        "command), 141 when the reader of the output went away (| head)."
    )
    # Comparing two files needs no database and no system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old", metavar="OLD.json", help="The baseline report.")
        parser.add_argument("new", metavar="NEW.json", help="The report to judge.")
        parser.add_argument(
            "--tolerance",
            metavar="PERCENT",
            default=DEFAULT_TOLERANCE_PERCENT,
            help=(
                "A timing change must also exceed this share of the old value "
                "to count (default 10)."
            ),
        )
        parser.add_argument(
            "--fail-on",
            metavar="WHAT",
            action="append",
            help=(
                "Exit with status 1 on 'regression' (slower beyond the spread "
                "and the tolerance, more queries, a new N+1 finding), 'queries' "
                "(the exact counts alone: "
                "more queries per request or N+1 queries per scope, a new N+1 "
                "finding; for live reports, whose timings are noise) or "
                "'critical' (a critical recommendation in NEW); repeat or "
                "separate with commas."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tolerance = parse_tolerance(options["tolerance"])
        fail_on = parse_fail_on(options["fail_on"])
        old = load_report_option("OLD.json", options["old"])
        new = load_report_option("NEW.json", options["new"])
        run_gate(
            self.console(options), new, old=old, tolerance=tolerance, fail_on=fail_on
        )
