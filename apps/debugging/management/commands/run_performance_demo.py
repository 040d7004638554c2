"""Run the performance demo's scenarios and print the report."""

from __future__ import annotations

import gc
import math
import os
import sys
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
from apps.debugging.outputs import OutputSteps, building_the_report
from apps.debugging.performance_demo import (
    MAX_TIME_SCALE,
    DemoSetupError,
    PerformanceDemo,
)
from apps.debugging.progress import DemoProgress
from apps.debugging.repeat import describe_runs, parse_repeat, run_repeated
from perfprobe.compare import cli as compare_cli
from perfprobe.events import Event
from perfprobe.report.jsonio import check_regular_target
from perfprobe.report.terminal import TerminalRenderer, make_console
from perfprobe.report.verbose import describe_event

#: The exit status after Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 130


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


# Every scenario must be able to use any seed accepted: the memory job packs
# seed-based order ids into unsigned 32-bit fields, so a seed outside this
# range (a negative one, 2**40) used to fail that scenario.
MAX_SEED = 2**31 - 1


def parse_seed(value: str) -> int:
    """Return ``value`` as an integer in 0..MAX_SEED, or raise ``CommandError``."""
    message = f"--seed must be an integer from 0 to {MAX_SEED:,}, not {value!r}."
    try:
        seed = int(value)
    except ValueError:
        raise CommandError(message) from None
    if not 0 <= seed <= MAX_SEED:
        raise CommandError(message)
    return seed


def check_output_path(value: str | None, option: str = "--output-file") -> Path | None:
    """Fail early, before any scenario runs, if ``value`` cannot be written."""
    if value is None:
        return None
    if not value.strip():
        raise CommandError(f"{option} is empty; give a file path.")
    try:
        return _checked_output_path(value, option)
    except (OSError, ValueError) as exc:
        # A name too long, a parent folder that cannot be searched, a NUL
        # byte: the probes below raise instead of answering.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CommandError(f"{option} {value!r} cannot be written: {reason}.") from None


def _checked_output_path(value: str, option: str) -> Path:
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


def check_charts_available(option: str) -> None:
    """Raise ``CommandError`` naming ``option`` if matplotlib cannot be imported."""
    # Imported here: only an HTML report needs the chart module, and every
    # run's start-up pays for what the command imports at the top.
    from perfprobe.report.charts import INSTALL_HINT, charts_available

    if not charts_available():
        raise CommandError(
            f"{option} draws charts with matplotlib, which is not "
            f"installed; install the 'report' extra: {INSTALL_HINT}"
        )


def pick_html_option(options: dict[str, Any]) -> tuple[str, str | None]:
    """Return the HTML option given (``--html`` or its alias) and its value."""
    html, alias = options.get("html"), options.get("html_file")
    if html is not None and alias is not None and html != alias:
        raise CommandError(
            f"--html {html!r} and --html-file {alias!r} name different files; "
            "give one of them (--html-file is another name for --html)."
        )
    if alias is not None and html is None:
        return "--html-file", alias
    return "--html", html


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
                "(above 0, at most 10; default 1.0)."
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
        self._add_load_arguments(parser)
        self._add_baseline_arguments(parser)

    @staticmethod
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

    @staticmethod
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
                "Smallest timing change that counts against --baseline, in %% "
                "(default 10)."
            ),
        )
        parser.add_argument(
            "--fail-on",
            metavar="WHAT",
            action="append",
            help=(
                "Exit with status 1 on 'regression' (needs --baseline) or "
                "'critical' (a critical recommendation); repeat or use commas."
            ),
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
        except KeyboardInterrupt:
            # Ctrl-C is the user's choice, not a crash: one line, no
            # traceback, and the status a shell gives a command SIGINT ended.
            sys.stderr.write("Interrupted.\n")
            sys.exit(EXIT_INTERRUPTED)
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
        html_option, html_value = pick_html_option(options)
        html_output = check_output_path(html_value, html_option)
        if output and html_output and output.resolve() == html_output.resolve():
            raise CommandError(
                f"--output-file and {html_option} name the same file "
                f"{str(output)!r}; give each report its own file."
            )
        if html_output is not None:
            check_charts_available(html_option)
        repeat = parse_repeat(options["repeat"])
        if options["tolerance"] is None:
            tolerance = compare_cli.parse_tolerance(
                compare_cli.DEFAULT_TOLERANCE_PERCENT
            )
        else:
            tolerance = compare_cli.parse_tolerance(options["tolerance"])
            if options["baseline"] is None:
                raise compare_cli.usage_error(
                    "--tolerance needs --baseline FILE: it is the smallest change "
                    "counted when comparing with a saved report."
                )
        fail_on = compare_cli.parse_fail_on(options["fail_on"])
        compare_cli.require_baseline(fail_on, options["baseline"])
        baseline = None
        if options["baseline"] is not None:
            baseline = compare_cli.load_report_option("--baseline", options["baseline"])
        console = self._console(options)

        with DemoProgress(console, total=len(names) * repeat) as progress:
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
                with building_the_report():
                    report = run_repeated(
                        demo, names, repeat, on_run_start=self._run_announcer(progress)
                    )
            finally:
                if listener:
                    demo.monitor.collector.remove_listener(listener)

        steps = OutputSteps()
        with steps.step("the terminal report"):
            TerminalRenderer(console).render(report)
            for line in describe_runs(report.runs or []):
                console.print(line, highlight=False, markup=False)
            render_load_results(console, report)
        if output is not None:
            with steps.step(f"--output-file {str(output)!r}"):
                try:
                    report.write_json(output)
                except (OSError, ValueError) as exc:
                    raise CommandError(
                        f"--output-file {str(output)!r}: {exc}"
                    ) from None
                console.print(
                    f"Report written to {output}", highlight=False, markup=False
                )
        if html_output is not None:
            with steps.step(f"{html_option} {str(html_output)!r}"):
                try:
                    report.write_html(html_output, charts=True)
                except (OSError, ValueError) as exc:
                    raise CommandError(
                        f"{html_option} {str(html_output)!r}: {exc}"
                    ) from None
                console.print(
                    f"HTML report written to {html_output}",
                    highlight=False,
                    markup=False,
                )
        if baseline is not None or fail_on:
            with steps.step("the baseline comparison"):
                compare_cli.run_gate(
                    console,
                    compare_cli.loaded_from_data(report.to_dict(), "this run"),
                    old=baseline,
                    tolerance=tolerance,
                    fail_on=fail_on,
                )
        steps.check()

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Run the command; every failure but a met ``--fail-on`` exits with 2."""
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            compare_cli.with_error_status(exc)
            raise

    def _console(self, options: dict[str, Any]) -> Console:
        # The command's own stdout (a StringIO under call_command), not
        # sys.stdout, so that tests and callers capture the report.
        stream = cast(IO[str], self.stdout._out)
        if options.get("force_color"):
            return Console(file=stream, force_terminal=True)
        return make_console(stream, color=not options.get("no_color"))

    @staticmethod
    def _run_announcer(progress: DemoProgress) -> Any:
        def announce(index: int, total: int) -> None:
            if total > 1:
                progress.say(f"Run {index + 1} of {total}")

        return announce

    @staticmethod
    def _verbose_listener(progress: DemoProgress) -> Any:
        def listener(event: Event) -> None:
            progress.say(describe_event(event))

        return listener
