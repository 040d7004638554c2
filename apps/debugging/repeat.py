"""Run the demo's scenarios several times and keep every run's figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from perfprobe.compare import run_record
from perfprobe.compare.gate import EXIT_ERROR
from perfprobe.compare.stats import median, spread
from perfprobe.report import Report
from perfprobe.report.fmt import format_duration

from .performance_demo import PerformanceDemo

# Each run takes the scenarios' full time; a hundred is hours at scale 1.
MAX_REPEAT = 100


def parse_repeat(value: object) -> int:
    """Return ``value`` as a run count in 1..MAX_REPEAT; else ``CommandError``."""
    message = f"--repeat must be a whole number from 1 to {MAX_REPEAT}, not {value!r}."
    try:
        repeat = int(str(value))
    except ValueError:
        raise CommandError(message, returncode=EXIT_ERROR) from None
    if not 1 <= repeat <= MAX_REPEAT:
        raise CommandError(message, returncode=EXIT_ERROR)
    return repeat


def run_repeated(
    demo: PerformanceDemo,
    names: list[str],
    repeat: int,
    *,
    on_run_start: Callable[[int, int], None] | None = None,
) -> Report:
    """Run ``names`` ``repeat`` times and return the last run's report.

    With more than one run, the report's ``runs`` holds the figures of each
    (the last included), so a comparison can see the spread between runs.
    The database must already be prepared. Raise ``ValueError`` when
    ``repeat`` is below 1.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat!r}")
    records = []
    for index in range(repeat):
        if on_run_start:
            on_run_start(index, repeat)
        report = demo.run(names, prepared=True)
        records.append(run_record(report.to_dict()))
    if repeat > 1:
        report.runs = records
    return report


def describe_runs(records: list[dict[str, Any]]) -> list[str]:
    """Return one line per scenario with its duration in every run.

    Each line ends with the median and the spread (max - min) across the
    runs, the figures a later ``--baseline`` comparison judges against.
    Return no lines for fewer than two runs.
    """
    if len(records) < 2:
        return []
    durations: dict[str, list[float]] = {}
    for record in records:
        for scenario in record["scenarios"]:
            durations.setdefault(scenario["name"], []).append(scenario["duration_s"])
    lines = [f"Scenario durations over {len(records)} runs:"]
    for name, values in durations.items():
        each = ", ".join(format_duration(v) for v in values)
        lines.append(
            f"  {name}: {each} (median {format_duration(median(values))}, "
            f"spread {format_duration(spread(values))})"
        )
    return lines
