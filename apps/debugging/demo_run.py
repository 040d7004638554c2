"""Run the demo command's scenarios behind its progress display."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import CommandError
from rich.console import Console

from perfprobe.events import Event
from perfprobe.report import Report
from perfprobe.report.verbose import describe_event

from .load.cli import LOAD_SCENARIO
from .options import DemoOptions
from .outputs import building_the_report
from .performance_demo import DemoSetupError, PerformanceDemo
from .progress import DemoProgress
from .repeat import run_repeated


def run_demo(console: Console, options: DemoOptions) -> Report:
    """Prepare the database, run the scenarios chosen and return the report.

    Raise ``CommandError`` when the database cannot be prepared or perfprobe
    fails to build the report.
    """
    load = options.load
    total = len(options.names) * options.repeat
    with DemoProgress(console, total=total) as progress:
        demo = PerformanceDemo(
            time_scale=options.time_scale,
            seed=options.seed,
            say=progress.say if options.verbose else None,
            on_scenario_start=progress.scenario_started,
            on_scenario_end=progress.scenario_finished,
            scenario_options={LOAD_SCENARIO: load.to_options()} if load else None,
        )
        try:
            demo.prepare()
        except DemoSetupError as exc:
            raise CommandError(str(exc)) from None

        # Listening only now keeps the set-up queries out of --verbose.
        listener = _verbose_listener(progress) if options.verbose else None
        if listener:
            demo.monitor.collector.add_listener(listener)
        try:
            with building_the_report():
                return run_repeated(
                    demo,
                    options.names,
                    options.repeat,
                    on_run_start=_run_announcer(progress),
                )
        finally:
            if listener:
                demo.monitor.collector.remove_listener(listener)


def _run_announcer(progress: DemoProgress) -> Callable[[int, int], None]:
    def announce(index: int, total: int) -> None:
        if total > 1:
            progress.say(f"Run {index + 1} of {total}")

    return announce


def _verbose_listener(progress: DemoProgress) -> Callable[[Event], None]:
    def listener(event: Event) -> None:
        progress.say(describe_event(event))

    return listener
