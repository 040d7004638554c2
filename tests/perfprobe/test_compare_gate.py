"""Test the CI gate and option parsing (``perfprobe.compare.gate``, ``cli``)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from perfprobe.compare import compare_reports, gate_failures, report_from_data
from perfprobe.compare.cli import (
    GateFailed,
    parse_fail_on,
    parse_tolerance,
    require_baseline,
    with_error_status,
)

from .compare_factories import report, run


def test_parse_tolerance_reads_percent() -> None:
    """'10' and '10%' are 0.1; '0' is allowed; '2.5%' is 0.025."""
    assert parse_tolerance("10") == pytest.approx(0.1)
    assert parse_tolerance("10%") == pytest.approx(0.1)
    assert parse_tolerance(" 2.5% ") == pytest.approx(0.025)
    assert parse_tolerance("0") == 0.0


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "-inf", "", "%", "1e400"])
def test_parse_tolerance_refuses_bad_values(value: str) -> None:
    """Each bad value names --tolerance and itself, with status 2."""
    with pytest.raises(CommandError) as caught:
        parse_tolerance(value)
    assert caught.value.returncode == 2
    assert str(caught.value).startswith("--tolerance must be a percentage")
    assert repr(value) in str(caught.value)


def test_parse_fail_on_takes_repeats_and_commas() -> None:
    """Both forms combine into one set; none gives the empty set."""
    assert parse_fail_on(["regression", "critical"]) == {"regression", "critical"}
    assert parse_fail_on(["critical, regression"]) == {"regression", "critical"}
    assert parse_fail_on(None) == frozenset()


def test_fail_on_regression_needs_a_baseline() -> None:
    """Without a report to compare with, regression cannot be judged."""
    with pytest.raises(CommandError, match="needs --baseline") as caught:
        require_baseline(frozenset({"regression"}), None)
    assert caught.value.returncode == 2
    require_baseline(frozenset({"critical"}), None)


def test_only_a_met_gate_keeps_status_1() -> None:
    """with_error_status turns Django's default 1 into 2, but not for the gate."""
    plain = CommandError("broken")
    gate = GateFailed("--fail-on regression: 1 found")
    with_error_status(plain)
    with_error_status(gate)
    assert plain.returncode == 2
    assert gate.returncode == 1


def test_gate_failures_lists_each_condition_met() -> None:
    """A slower operation and a critical finding: two sentences."""
    old = report_from_data(report(run(operations={"a": (0.1, 0.1)})), "old")
    new = report_from_data(
        report(
            run(operations={"a": (0.2, 0.2)}, critical=1), critical_titles=("Boom",)
        ),
        "new",
    )
    comparison = compare_reports(old, new, tolerance=0.1)

    failures = gate_failures(frozenset({"regression", "critical"}), comparison, new)

    assert failures == [
        "--fail-on regression: 1 found (operation a is slower: "
        "median 100 -> 200 ms (+100.0%), p95 100 -> 200 ms (+100.0%))",
        "--fail-on critical: 1 critical recommendation(s) in new: Boom",
    ]
    assert gate_failures(frozenset(), comparison, new) == []


def test_gate_failures_refuses_regression_without_a_comparison() -> None:
    """Asking for regression with nothing compared is a programming error."""
    new = report_from_data(report(run()), "new")
    with pytest.raises(ValueError, match="needs a comparison"):
        gate_failures(frozenset({"regression"}), None, new)


def test_gate_failures_show_control_characters_of_names_escaped() -> None:
    """Names read from the files cannot drive the terminal or CI log of the gate.

    The sentences are the ``CommandError`` Django writes to stderr as they
    are; the comparison's own tables were escaped already.
    """
    hostile = "\x1b]0;owned\x07\x9b2J"
    old = report_from_data(report(run(operations={f"a{hostile}": (0.1, 0.1)})), "old")
    new = report_from_data(
        report(
            run(operations={f"a{hostile}": (0.2, 0.2)}, critical=1),
            critical_titles=(f"Boom{hostile}",),
        ),
        "new",
    )
    comparison = compare_reports(old, new, tolerance=0.1)

    failures = gate_failures(frozenset({"regression", "critical"}), comparison, new)

    escaped = "\\x1b]0;owned\\x07\\x9b2J"
    assert failures == [
        f"--fail-on regression: 1 found (operation a{escaped} is slower: "
        "median 100 -> 200 ms (+100.0%), p95 100 -> 200 ms (+100.0%))",
        f"--fail-on critical: 1 critical recommendation(s) in new: Boom{escaped}",
    ]


def test_the_gate_names_the_endpoint_before_its_scenario_with_numbers() -> None:
    """A slower endpoint inside a slower scenario is named first, with its times.

    In a user trial the demo's gate said only "scenario api_requests is
    slower": neither the endpoint that had slowed nor by how much.
    """

    def runs(scenario_s: float, endpoint_s: float, queries: int) -> dict:
        return report(
            *[
                run(
                    scenarios={"api": (scenario_s, 16 + queries)},
                    endpoints={"GET /p/": (endpoint_s, endpoint_s, queries)},
                    queries=44 + queries,
                    scopes=6,
                )
            ]
            * 5
        )

    old = report_from_data(runs(0.9, 0.042, 1), "old")
    new = report_from_data(runs(1.0, 0.147, 2), "new")
    comparison = compare_reports(old, new, tolerance=0.1)

    assert comparison.regressions() == [
        "endpoint GET /p/ is slower: median 42.0 -> 147 ms (+250.0%), "
        "p95 42.0 -> 147 ms (+250.0%)",
        "endpoint GET /p/: 1 -> 2 queries/request",
        # Five runs are too few for a scenario's p95 (20): the median alone.
        "scenario api is slower: median 900 ms -> 1.00 s (+11.1%)",
        "scenario api: 17 -> 18 queries",
        "whole report: 45 -> 46 queries",
    ]
    assert gate_failures(frozenset({"queries"}), comparison, new) == [
        "--fail-on queries: 3 found (endpoint GET /p/: 1 -> 2 queries/request, ...)"
    ]
    assert gate_failures(frozenset({"regression"}), comparison, new) == [
        "--fail-on regression: 5 found (endpoint GET /p/ is slower: "
        "median 42.0 -> 147 ms (+250.0%), p95 42.0 -> 147 ms (+250.0%), ...)"
    ]
