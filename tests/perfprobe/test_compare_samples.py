"""Test that single-run timings need enough samples, and ``--fail-on queries``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from perfprobe.compare import compare_reports, report_from_data
from perfprobe.compare.comparison import Comparison, TimingRow
from perfprobe.compare.render import noise_rule
from perfprobe.compare.stats import (
    MIN_SAMPLES,
    SLOWER,
    TOO_FEW,
    UNCHANGED,
    estimate,
    judge_timing,
)

from .compare_factories import N1_SITE, N1_SQL, compare_files, report, run

PAGE = "GET /books/<int:pk>/"
LIST = "GET /books/"


def _compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    return compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=0.1,
    )


def _row(comparison: Comparison, name: str) -> TimingRow:
    (row,) = [r for r in comparison.timings if r.key.name == name]
    return row


def test_the_minimums_are_twenty_for_a_median_and_for_a_p95() -> None:
    """Single runs: 19 samples leave a median or p95 unjudged, 20 judge it."""
    old, new = 0.100, 0.150  # +50 %, far beyond a 10 % tolerance

    def verdict(samples: int, quantile: float) -> str:
        change = judge_timing(
            estimate([old], samples=samples),
            estimate([new], samples=samples),
            0.1,
            min_samples=MIN_SAMPLES[quantile],
        )
        return change.verdict

    assert [verdict(n, 0.5) for n in (1, 6, 19, 20)] == [TOO_FEW] * 3 + [SLOWER]
    assert [verdict(n, 0.95) for n in (5, 19, 20)] == [TOO_FEW, TOO_FEW, SLOWER]


def test_the_fewer_side_decides() -> None:
    """30 old requests and 4 new: the median is not judged."""
    change = judge_timing(
        estimate([0.1], samples=30), estimate([0.2], samples=4), 0.1, min_samples=5
    )
    assert change.too_few and change.samples == 4 and change.verdict == TOO_FEW


def test_one_request_each_is_too_few_not_slower() -> None:
    """The fresh user's live reports: 2.0 -> 3.1 ms (+55 %) from one request.

    Not a regression: the row says "too few", and the gate passes.
    """
    old = report(run(endpoints={PAGE: (0.0020, 0.0020, 1)}))
    new = report(run(endpoints={PAGE: (0.0031, 0.0031, 1)}))

    comparison = _compare(old, new)
    row = _row(comparison, PAGE)

    assert row.median is not None and row.median.relative == pytest.approx(0.55)
    assert row.verdict == TOO_FEW
    assert row.samples == (1, 1)
    assert comparison.regressions() == []


def test_ten_requests_judge_neither_statistic() -> None:
    """10 requests each: median +6 % and p95 +47 % are both too few (< 20)."""
    old = report(run(endpoints={LIST: (0.0034, 0.0039, [22] * 10)}))
    new = report(run(endpoints={LIST: (0.0036, 0.0057, [22] * 10)}))

    row = _row(_compare(old, new), LIST)

    assert row.median is not None and row.p95 is not None
    assert row.median.too_few and row.median.relative == pytest.approx(0.2 / 3.4)
    assert row.p95.too_few and row.p95.relative == pytest.approx(0.018 / 0.039)
    assert row.verdict == TOO_FEW


def test_six_requests_of_unchanged_views_are_not_a_regression() -> None:
    """The fresh user's live reports: 14.6 -> 74.8 ms (+413 %) over 6 requests.

    A median of 6 millisecond timings is the mean of the 3rd and 4th: three
    slowed requests move it. Too few, and the gate has nothing to fail on.
    """
    books = "GET /books/python/"
    old = report(run(endpoints={books: (0.0146, 0.0200, [3] * 6)}))
    new = report(run(endpoints={books: (0.0748, 0.0900, [3] * 6)}))

    comparison = _compare(old, new)
    row = _row(comparison, books)

    assert row.median is not None
    assert row.median.relative == pytest.approx(0.0602 / 0.0146)
    assert row.verdict == TOO_FEW
    assert comparison.regressions() == []


def test_twenty_requests_judge_the_p95() -> None:
    """20 requests each: the p95's +47 % is slower."""
    old = report(run(endpoints={LIST: (0.0034, 0.0039, [22] * 20)}))
    new = report(run(endpoints={LIST: (0.0036, 0.0057, [22] * 20)}))

    assert _row(_compare(old, new), LIST).verdict == SLOWER


def test_repeated_runs_keep_their_rule_whatever_the_requests() -> None:
    """--repeat 3 with one request per run: 100 -> 150 ms beyond a 4 ms spread.

    The spread across runs measures the noise, so the sample minimum does
    not apply and the row is slower, as before.
    """
    old = report(*(run(endpoints={PAGE: (t, t, 1)}) for t in (0.098, 0.100, 0.102)))
    new = report(*(run(endpoints={PAGE: (t, t, 1)}) for t in (0.148, 0.150, 0.152)))

    row = _row(_compare(old, new), PAGE)

    assert row.samples == (3, 3)
    assert row.verdict == SLOWER


def test_a_single_run_scenario_is_too_few_runs() -> None:
    """A scenario is one sample per run: 2 s -> 1 s from one run is not judged."""
    comparison = _compare(
        report(run(scenarios={"db": (2.0, 12)})),
        report(run(scenarios={"db": (1.0, 12)})),
    )
    assert _row(comparison, "db").verdict == TOO_FEW
    assert comparison.improvements() == []


def test_the_timing_table_shows_n_and_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """n old/new per row, "too few requests (1)", the unjudged change bracketed."""
    monkeypatch.setenv("COLUMNS", "80")
    old = report(
        run(endpoints={LIST: (0.0034, 0.0039, [22] * 10), PAGE: (0.002, 0.002, 1)})
    )
    new = report(
        run(endpoints={LIST: (0.0036, 0.0057, [22] * 10), PAGE: (0.0031, 0.0031, 1)})
    )
    output = compare_files(tmp_path, old, new)
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = [line for line in lines if line.startswith("|")]
    assert len({len(line) for line in table}) == 1
    flat = " ".join(output.split())
    assert "| GET /books/ | 10/10 | 3.4 -> 3.6 ms |" in flat
    assert "| 1/1 | 2.0 -> 3.1 ms | 2.0 -> 3.1 ms | too few |" in flat
    assert "(+55.0%) | (+55.0%) | requests (1) |" in flat
    assert "(+46.2%)" in flat  # the p95 of 10 requests: 3.9 -> 5.7 ms
    assert "in brackets: too few samples, not judged" in flat


# -- --fail-on queries ----------------------------------------------------------


def _gate(tmp_path: Path, old: dict[str, Any], new: dict[str, Any]) -> str:
    return compare_files(tmp_path, old, new, "--fail-on", "queries")


def test_fail_on_queries_passes_a_slower_timing_with_the_same_queries(
    tmp_path: Path,
) -> None:
    """100 -> 200 ms over 20 requests is slower, printed, but does not gate."""
    old = report(run(endpoints={LIST: (0.1, 0.1, [7] * 20)}))
    new = report(run(endpoints={LIST: (0.2, 0.2, [7] * 20)}))

    output = _gate(tmp_path, old, new)

    assert "slower (median, p95)" in output
    assert output.endswith(
        "Gate passed (--fail-on queries; the regressions listed above are not gated).\n"
    )
    same = _gate(tmp_path, old, old)
    assert same.endswith("Gate passed (--fail-on queries).\n")


def test_fail_on_queries_fails_on_one_more_query_per_request(tmp_path: Path) -> None:
    """7 -> 8 queries per request of one endpoint: status 1, named."""
    old = report(run(endpoints={LIST: (0.1, 0.1, [7] * 3)}))
    new = report(run(endpoints={LIST: (0.1, 0.1, [8] * 30)}))

    with pytest.raises(CommandError) as caught:
        _gate(tmp_path, old, new)

    assert caught.value.returncode == 1
    assert str(caught.value) == (
        "--fail-on queries: 1 found (endpoint GET /books/: 7 -> 8 queries/request)"
    )


def test_fail_on_queries_fails_on_a_new_n_plus_one(tmp_path: Path) -> None:
    """A new N+1 finding of 10 queries in one scope: status 1."""
    with pytest.raises(CommandError) as caught:
        _gate(tmp_path, report(run()), report(run(n_plus_one={(N1_SQL, N1_SITE): 10})))

    assert caught.value.returncode == 1
    assert str(caught.value) == (
        f"--fail-on queries: 1 found (new N+1 finding at {N1_SITE}: {N1_SQL})"
    )


def test_fail_on_queries_ignores_a_scenario_that_started_failing(
    tmp_path: Path,
) -> None:
    """Failed runs are not queries: --fail-on regression catches them."""
    old = report(run(scenarios={"db": (1.0, 12)}))
    new = report(run(scenarios={"db": (1.0, 12)}, failed=("db",)))

    assert "Gate passed (--fail-on queries; the regressions listed above" in _gate(
        tmp_path, old, new
    )


def test_fail_on_queries_needs_a_baseline_in_the_demo() -> None:
    """Like regression, the condition compares; without --baseline it is refused."""
    with pytest.raises(CommandError) as caught:
        call_command("run_performance_demo", "--fail-on", "queries")
    assert caught.value.returncode == 2
    assert str(caught.value) == (
        "--fail-on queries needs --baseline FILE, a report to compare with."
    )


# -- a scenario's p95 across runs ------------------------------------------------

# The fresh user's baseline recipe, unchanged code, --repeat 5: durations
# chosen so the median moves less than the spread and the p95 more.
OLD_RUNS_S = (0.220, 0.250, 0.276, 0.300, 0.340)
NEW_RUNS_S = (0.400, 0.420, 0.460, 0.470, 0.700)


def _scenario_and_operation(durations: tuple[float, ...]) -> dict[str, Any]:
    return report(
        *(
            run(
                scenarios={"memory_intensive": (t, 0)},
                operations={"memory.process_records": (t, t)},
                calls=1,
            )
            for t in durations
        )
    )


def test_a_scenario_p95_over_five_runs_is_not_judged() -> None:
    """p95 332 -> 654 ms beats the 300 ms spread but stands on 5 runs: too few.

    The median, 276 -> 460 ms, is within the spread: the scenario is
    unchanged, as is the operation with the same durations, and the gate
    has nothing to fail on.
    """
    comparison = _compare(
        _scenario_and_operation(OLD_RUNS_S), _scenario_and_operation(NEW_RUNS_S)
    )
    scenario = _row(comparison, "memory_intensive")
    operation = _row(comparison, "memory.process_records")

    assert scenario.p95 is not None and scenario.median is not None
    # Inclusive interpolation at rank 0.95 x 4 = 3.8: 0.300 + 0.8 x 0.040.
    assert scenario.p95.old.value_s == pytest.approx(0.332)
    assert scenario.p95.new.value_s == pytest.approx(0.654)
    assert scenario.p95.noise_s == pytest.approx(0.300)
    assert scenario.p95.too_few and scenario.p95.verdict == TOO_FEW
    assert scenario.median.verdict == UNCHANGED
    assert scenario.verdict == operation.verdict == UNCHANGED
    assert comparison.regressions() == []
    assert "A scenario's p95, taken across the runs, is judged only from 20 runs" in (
        noise_rule(comparison)
    )


def test_a_scenario_p95_over_twenty_runs_is_judged() -> None:
    """20 runs each, every new run 100 ms slower than every old: slower."""
    old = [0.200 + 0.001 * i for i in range(20)]
    new = [t + 0.100 for t in old]
    comparison = _compare(
        _scenario_and_operation(tuple(old)), _scenario_and_operation(tuple(new))
    )
    scenario = _row(comparison, "memory_intensive")

    assert scenario.p95 is not None and not scenario.p95.too_few
    assert scenario.p95.verdict == SLOWER
    assert scenario.verdict == SLOWER
