"""Test running the demo several times (``apps.debugging.repeat``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError

from apps.debugging.repeat import describe_runs, parse_repeat, run_repeated
from perfprobe.report import Report
from tests.perfprobe.report_factories import build, make_collector, operation


class StubDemo:
    """Stand in for PerformanceDemo: each run records one known operation."""

    def __init__(self, durations_s: list[float]) -> None:
        self.durations_s = list(durations_s)
        self.calls: list[tuple[list[str], bool]] = []

    def run(self, names: list[str], *, prepared: bool = False) -> Report:
        self.calls.append((names, prepared))
        collector = make_collector()
        collector.record_operation(operation("step", self.durations_s.pop(0)), None)
        return build(collector)


def test_every_run_is_kept_and_the_last_report_returned() -> None:
    """Three runs of 0.1, 0.2, 0.3 s: runs hold each; the body is the third."""
    demo = StubDemo([0.1, 0.2, 0.3])
    started: list[tuple[int, int]] = []

    report = run_repeated(
        demo,  # type: ignore[arg-type]
        ["a"],
        3,
        on_run_start=lambda i, n: started.append((i, n)),
    )

    assert report.runs is not None
    assert [r["operations"][0]["p50"] for r in report.runs] == [0.1, 0.2, 0.3]
    assert report.operations[0]["stats"]["p50"] == 0.3
    assert demo.calls == [(["a"], True)] * 3
    assert started == [(0, 3), (1, 3), (2, 3)]


def test_a_single_run_adds_no_runs() -> None:
    """--repeat 1 leaves the report as it always was."""
    report = run_repeated(StubDemo([0.1]), ["a"], 1)  # type: ignore[arg-type]
    assert report.runs is None
    assert "runs" not in report.to_dict()


def test_zero_runs_is_refused() -> None:
    """run_repeated needs at least one run."""
    with pytest.raises(ValueError, match="at least 1"):
        run_repeated(StubDemo([]), ["a"], 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("5", 5), (100, 100)])
def test_parse_repeat_accepts_1_to_100(value: Any, expected: int) -> None:
    """Whole numbers from 1 to 100 are run counts."""
    assert parse_repeat(value) == expected


@pytest.mark.parametrize("value", ["0", "101", "-3", "2.0", "two", ""])
def test_parse_repeat_refuses_the_rest(value: str) -> None:
    """Anything else is a one-line error with status 2."""
    with pytest.raises(CommandError) as caught:
        parse_repeat(value)
    assert caught.value.returncode == 2
    assert f"not {value!r}" in str(caught.value)


def test_describe_runs_gives_each_duration_with_median_and_spread() -> None:
    """Durations 0.3, 0.1, 0.2 s: median 200 ms, spread 200 ms."""
    records = [
        {"scenarios": [{"name": "db", "duration_s": d}]} for d in (0.3, 0.1, 0.2)
    ]
    assert describe_runs(records) == [
        "Scenario durations over 3 runs:",
        "  db: 300 ms, 100 ms, 200 ms (median 200 ms, spread 200 ms)",
    ]
    assert describe_runs(records[:1]) == []
