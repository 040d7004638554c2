"""Test comparing two reports (``perfprobe.compare.comparison``)."""

from __future__ import annotations

from typing import Any

import pytest

from perfprobe.compare import compare_reports, report_from_data
from perfprobe.compare.comparison import Comparison, TimingRow
from perfprobe.compare.counts import ONLY_NEW, ONLY_OLD
from perfprobe.compare.figures import ALL_QUERIES, FAILED_RUNS, N_PLUS_ONE, QUERIES

from .compare_factories import N1_SITE, N1_SQL, report, run


def _compare(
    old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.1
) -> Comparison:
    return compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=tolerance,
    )


def _row(comparison: Comparison, kind: str, name: str) -> TimingRow:
    (row,) = [r for r in comparison.timings if r.key == (kind, name)]
    return row


def test_a_known_fifty_percent_regression_is_slower() -> None:
    """Three runs each with 4 ms spread; the median goes 100 -> 150 ms."""
    old = report(
        *(run(operations={"checkout": (t, t + 0.05)}) for t in (0.098, 0.100, 0.102))
    )
    new = report(
        *(run(operations={"checkout": (t, t + 0.05)}) for t in (0.148, 0.150, 0.152))
    )

    row = _row(_compare(old, new), "operation", "checkout")

    assert row.verdict == "slower"
    assert row.median is not None and row.p95 is not None
    assert row.median.old.value_s == pytest.approx(0.100)
    assert row.median.new.value_s == pytest.approx(0.150)
    assert row.median.relative == pytest.approx(0.5)
    assert row.median.noise_s == pytest.approx(0.004)
    assert row.p95.old.value_s == pytest.approx(0.150)
    assert row.p95.verdict == "slower"


def test_a_rise_inside_the_run_spread_is_unchanged() -> None:
    """Old runs spread 80 ms; a 30 ms (+30 %) rise of the median stays unchanged."""
    old = report(*(run(operations={"checkout": (t, t)}) for t in (0.060, 0.100, 0.140)))
    new = report(*(run(operations={"checkout": (t, t)}) for t in (0.125, 0.130, 0.135)))

    row = _row(_compare(old, new), "operation", "checkout")

    assert row.median is not None
    assert row.median.relative == pytest.approx(0.3)
    assert row.verdict == "unchanged"


def test_a_single_run_each_uses_the_tolerance_only() -> None:
    """No spread is known: +8 % is unchanged at 10 %, +12 % is slower."""
    old = report(run(operations={"a": (1.0, 1.0), "b": (1.0, 1.0)}))
    new = report(run(operations={"a": (1.08, 1.08), "b": (1.12, 1.12)}))

    comparison = _compare(old, new)

    assert not comparison.spread_known
    assert _row(comparison, "operation", "a").verdict == "unchanged"
    assert _row(comparison, "operation", "b").verdict == "slower"


def test_a_p95_regression_alone_makes_the_row_slower() -> None:
    """The median holds at 100 ms while p95 doubles from 200 to 400 ms.

    20 requests of 3 queries in each report: enough to judge a p95.
    """
    old = report(run(endpoints={"GET /api/products/": (0.1, 0.2, [3] * 20)}))
    new = report(run(endpoints={"GET /api/products/": (0.1, 0.4, [3] * 20)}))

    row = _row(_compare(old, new), "endpoint", "GET /api/products/")

    assert row.median is not None and row.median.verdict == "unchanged"
    assert row.verdict == "slower"


def test_a_scenario_p95_is_taken_over_its_runs() -> None:
    """Durations 1, 2, 3, 4, 5 s: median 3 s, p95 4.8 s, spread 4 s."""
    old = report(*(run(scenarios={"db": (float(t), 12)}) for t in (5, 1, 2, 4, 3)))

    row = _row(_compare(old, old), "scenario", "db")

    assert row.median is not None and row.p95 is not None
    assert row.median.old.value_s == pytest.approx(3.0)
    assert row.p95.old.value_s == pytest.approx(4.8)
    assert row.median.noise_s == pytest.approx(4.0)
    assert row.verdict == "unchanged"


def test_faster_is_an_improvement_not_a_regression() -> None:
    """Halving a scenario's time (two runs each) is faster, an improvement."""
    comparison = _compare(
        report(*[run(scenarios={"db": (2.0, 12)})] * 2),
        report(*[run(scenarios={"db": (1.0, 12)})] * 2),
    )
    assert _row(comparison, "scenario", "db").verdict == "faster"
    assert comparison.regressions() == []
    # Two runs are too few for a scenario's p95: the median alone is named.
    assert comparison.improvements() == [
        "scenario db is faster: median 2.00 -> 1.00 s (-50.0%)"
    ]


def test_one_more_query_is_a_regression_whatever_the_tolerance() -> None:
    """12 -> 13 queries is reported exactly, even with a huge tolerance."""
    old = report(run(scenarios={"db": (1.0, 12)}, queries=12))
    new = report(run(scenarios={"db": (1.0, 13)}, queries=13))

    comparison = _compare(old, new, tolerance=100.0)

    changed = {
        (r.key.kind, r.key.name): (str(r.old), str(r.new), r.verdict)
        for r in comparison.changed_counts()
    }
    assert changed == {
        (QUERIES, ALL_QUERIES): ("12", "13", "more"),
        (QUERIES, "scenario db"): ("12", "13", "more"),
    }
    assert len(comparison.regressions()) == 2


def test_fewer_queries_are_an_improvement() -> None:
    """An endpoint going from 7 to 2 queries per request improved."""
    old = report(run(endpoints={"POST /api/orders/": (0.1, 0.1, 7)}))
    new = report(run(endpoints={"POST /api/orders/": (0.1, 0.1, 2)}))

    comparison = _compare(old, new)

    assert comparison.regressions() == []
    assert comparison.improvements() == [
        "endpoint POST /api/orders/: 7 -> 2 queries/request"
    ]


def test_query_counts_that_vary_across_runs_compare_as_ranges() -> None:
    """Old runs made 12 and 13 queries; new 12 and 14: a run went above 13."""
    old = report(*(run(scenarios={"db": (1.0, n)}, queries=n) for n in (12, 13)))
    new = report(*(run(scenarios={"db": (1.0, n)}, queries=n) for n in (12, 14)))

    row, scenario = _compare(old, new).changed_counts()

    assert (str(row.old), str(row.new), row.verdict) == ("12-13", "12-14", "more")
    assert scenario.key == (QUERIES, "scenario db") and scenario.verdict == "more"


def test_a_new_n_plus_one_finding_is_a_regression() -> None:
    """A finding absent from the old report and present in the new one."""
    old = report(run())
    new = report(run(n_plus_one={(N1_SQL, N1_SITE): 10}))

    comparison = _compare(old, new)

    (row,) = comparison.changed_counts()
    assert row.key.kind == N_PLUS_ONE and row.verdict == ONLY_NEW
    assert N1_SITE in row.key.name
    assert comparison.regressions() == [f"new N+1 finding at {row.key.name}"]


def test_a_vanished_n_plus_one_finding_is_an_improvement() -> None:
    """The N+1 fixed: the finding is only in the old report."""
    comparison = _compare(
        report(run(n_plus_one={(N1_SQL, N1_SITE): 10})), report(run())
    )

    (row,) = comparison.changed_counts()
    assert row.verdict == ONLY_OLD
    assert comparison.regressions() == []
    assert len(comparison.improvements()) == 1


def test_an_n_plus_one_that_grew_is_a_regression() -> None:
    """10 lazy loads per run become 25."""
    old = report(run(n_plus_one={(N1_SQL, N1_SITE): 10}))
    new = report(run(n_plus_one={(N1_SQL, N1_SITE): 25}))

    (row,) = _compare(old, new).changed_counts()

    assert (str(row.old), str(row.new), row.verdict) == ("10", "25", "more")


def test_a_scenario_that_starts_failing_is_a_regression() -> None:
    """Failed runs are counted: 0 before, 1 now."""
    old = report(run(scenarios={"db": (1.0, 12)}))
    new = report(run(scenarios={"db": (1.0, 12)}, failed=("db",)))

    (row,) = _compare(old, new).changed_counts()

    assert row.key.kind == FAILED_RUNS and row.verdict == "more"


def test_rows_in_one_report_only_are_shown_not_judged() -> None:
    """An operation that disappeared and one that appeared are not compared."""
    comparison = _compare(
        report(run(operations={"gone": (1.0, 1.0)})),
        report(run(operations={"added": (1.0, 1.0)})),
    )
    assert _row(comparison, "operation", "gone").verdict == ONLY_OLD
    assert _row(comparison, "operation", "added").verdict == ONLY_NEW
    assert comparison.regressions() == []


def test_different_time_scales_are_warned_about() -> None:
    """A report at scale 1 against one at 0.02: timings are not comparable."""
    comparison = _compare(report(run(), time_scale=1.0), report(run(), time_scale=0.02))
    assert any("time scales" in w for w in comparison.warnings)


def test_different_seeds_are_warned_about() -> None:
    """The demo's data comes from its seed: 7 against 42 is other data."""
    comparison = _compare(report(run(), seed=7), report(run(), seed=42))
    (warning,) = [w for w in comparison.warnings if "seed" in w]
    assert "old 7, new 42" in warning


@pytest.mark.parametrize(("old", "new"), [(7, 7), (None, 7), (7, None), (None, None)])
def test_same_or_unknown_seeds_are_not_warned_about(
    old: int | None, new: int | None
) -> None:
    """Reports without a seed (pytest, live page, older ones) say nothing of it."""
    comparison = _compare(report(run(), seed=old), report(run(), seed=new))
    assert not [w for w in comparison.warnings if "seed" in w]


def test_a_negative_tolerance_is_refused() -> None:
    """compare_reports checks its tolerance before comparing anything."""
    with pytest.raises(ValueError, match="tolerance"):
        _compare(report(run()), report(run()), tolerance=-1)
