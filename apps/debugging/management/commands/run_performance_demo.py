"""Run the performance demo's scenarios and print the report."""

from __future__ import annotations

import gc
import math
import os
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from rich.console import Console

from apps.debugging.load.cli import (
    LOAD_SCENARIO,
    choose_scenarios,
    parse_load_options,
    render_load_results,
)
from apps.debugging.performance_demo import (
    MAX_TIME_SCALE,
    DemoSetupError,
    PerformanceDemo,
)
from apps.debugging.progress import DemoProgress
from perfprobe.events import Event
from perfprobe.report.jsonio import check_regular_target
from perfprobe.report.terminal import TerminalRenderer, make_console
from perfprobe.report.verbose import describe_event


def parse_scenarios(value: str | None, available: list[str]) -> list[str]:
    """Return the scenario names in ``value`` (comma-separated) in given order."""
    if value is None:
        return available
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise CommandError(f"--scenarios is empty; choose from {', '.join(available)}.")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CommandError(
            f"--scenarios has unknown scenario(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(available)}."
        )
    return list(dict.fromkeys(names))


def parse_time_scale(value: str) -> float:
    """Return ``value`` as a number in (0, MAX_TIME_SCALE]; else ``CommandError``."""
    message = (
        f"--time-scale must be a number above 0 and at most {MAX_TIME_SCALE:g}, "
        f"not {value!r}."
    )
    try:
        scale = float(value)
    except ValueError:
        raise CommandError(message) from None
    if not math.isfinite(scale) or not 0 < scale <= MAX_TIME_SCALE:
        raise CommandError(message)
    return scale


def parse_seed(value: str) -> int:
    """Return ``value`` as an integer, or raise ``CommandError``."""
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"--seed must be an integer, not {value!r}.") from None


def check_output_path(value: str | None, option: str = "--output-file") -> Path | None:
    """Fail early, before any scenario runs, if ``value`` cannot be written."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise CommandError(f"{option} {value!r} is a directory; give a file path.")
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(
            f"{option} {value!r}: folder {str(folder)!r} does not exist."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(
            f"{option} {value!r}: folder {str(folder)!r} is not writable."
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise CommandError(f"{option} {value!r} exists and is not writable.")
    try:
        check_regular_target(path)
    except OSError:
        raise CommandError(
            f"{option} {value!r} is not a regular file (a device, FIFO or "
            "socket); give a file path."
        ) from None
    return path


class Command(BaseCommand):
    help = (
        "Run perfprobe's performance demo: database operations, API requests, "
        "concurrent workers, a memory-intensive job and error scenarios, then "
        "print a report with statistics and recommendations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output-file",
            metavar="PATH",
            help="Also write the report as JSON to PATH (replaced atomically).",
        )
        parser.add_argument(
            "--html-file",
            metavar="PATH",
            help="Also write the report as one self-contained HTML page to PATH.",
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
                "(above 0, at most 10; default 1.0)."
            ),
        )
        parser.add_argument(
            "--seed",
            metavar="N",
            default="42",
            help="Seed for sample data and worker durations (default 42).",
        )
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

    def run_from_argv(self, argv: list[str]) -> None:
        """Run from the command line, then leave the process quick to exit.

        Only ``manage.py`` calls this (``call_command`` does not), and the
        process ends right after: the interpreter's final collection would
        walk every object Django, rich and the report left behind, about
        0.1 s, to free memory the operating system takes back anyway.
        Freezing them skips that walk; the database connections are closed
        first, so nothing is left to be finalised.
        """
        try:
            super().run_from_argv(argv)
        finally:
            connections.close_all()
            gc.freeze()

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            available = PerformanceDemo.available_scenarios()
            defaults = PerformanceDemo.default_scenarios()
        except DemoSetupError as exc:
            raise CommandError(str(exc)) from None
        selected = (
            parse_scenarios(options["scenarios"], available)
            if options["scenarios"] is not None
            else None
        )
        load = parse_load_options(options)
        names = choose_scenarios(selected, defaults, load)
        time_scale = parse_time_scale(str(options["time_scale"]))
        seed = parse_seed(str(options["seed"]))
        output = check_output_path(options["output_file"])
        html_output = check_output_path(options["html_file"], "--html-file")
        console = self._console(options)

        with DemoProgress(console, total=len(names)) as progress:
            demo = PerformanceDemo(
                time_scale=time_scale,
                seed=seed,
                say=progress.say if options["verbose"] else None,
                on_scenario_start=progress.scenario_started,
                on_scenario_end=progress.scenario_finished,
                scenario_options={LOAD_SCENARIO: load.to_options()} if load else None,
            )
            try:
                demo.prepare()
            except DemoSetupError as exc:
                raise CommandError(str(exc)) from None
            # Listening only now keeps the set-up queries out of --verbose.
            listener = self._verbose_listener(progress) if options["verbose"] else None
            if listener:
                demo.monitor.collector.add_listener(listener)
            try:
                report = demo.run(names, prepared=True)
            finally:
                if listener:
                    demo.monitor.collector.remove_listener(listener)

        TerminalRenderer(console).render(report)
        render_load_results(console, report)
        if output is not None:
            try:
                report.write_json(output)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--output-file {str(output)!r}: {exc}") from None
            console.print(f"Report written to {output}", highlight=False, markup=False)
        if html_output is not None:
            try:
                report.write_html(html_output)
            except OSError as exc:
                raise CommandError(f"--html-file {str(html_output)!r}: {exc}") from None
            console.print(
                f"HTML report written to {html_output}", highlight=False, markup=False
            )

    def _console(self, options: dict[str, Any]) -> Console:
        # The command's own stdout (a StringIO under call_command), not
        # sys.stdout, so that tests and callers capture the report.
        stream = cast(IO[str], self.stdout._out)
        if options.get("force_color"):
            return Console(file=stream, force_terminal=True)
        return make_console(stream, color=not options.get("no_color"))

    @staticmethod
    def _verbose_listener(progress: DemoProgress) -> Any:
        def listener(event: Event) -> None:
            progress.say(describe_event(event))

        return listener
