"""Test percentiles and running aggregates in ``perfprobe.stats``."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import pytest

from perfprobe.stats import MetricStats, inclusive_percentile


def _exact(values: list[float], q: float) -> float:
    return inclusive_percentile(sorted(values), q)


def test_hand_computed_percentiles() -> None:
    """Interpolate linearly between the two closest ranks, as worked out here."""
    # n = 4, rank = (n - 1) * q:
    #   p50: rank 1.5  -> 2 + 0.5  * (3 - 2) = 2.5
    #   p95: rank 2.85 -> 3 + 0.85 * (4 - 3) = 3.85
    #   p99: rank 2.97 -> 3 + 0.97 * (4 - 3) = 3.97
    data = [1.0, 2.0, 3.0, 4.0]
    assert inclusive_percentile(data, 0.50) == pytest.approx(2.5)
    assert inclusive_percentile(data, 0.95) == pytest.approx(3.85)
    assert inclusive_percentile(data, 0.99) == pytest.approx(3.97)
    assert inclusive_percentile(data, 0.0) == 1.0
    assert inclusive_percentile(data, 1.0) == 4.0


@pytest.mark.parametrize(
    "data",
    [
        [1.0, 2.0, 3.0, 4.0],
        [0.5, 0.1, 9.0, 3.3, 3.3, 7.25, 0.0],
        [float(x) for x in range(1, 101)],
        [random.Random(3).expovariate(2.0) for _ in range(57)],
    ],
)
def test_matches_statistics_inclusive_quantiles(data: list[float]) -> None:
    """Agree with ``statistics.quantiles(method="inclusive")`` at every cut point."""
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    for k, expected in enumerate(cuts, start=1):
        assert _exact(data, k / 100) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_percentile_of_one_value_is_that_value() -> None:
    """Return the only sample for any quantile."""
    assert inclusive_percentile([0.25], 0.99) == 0.25


def test_percentile_rejects_empty_data_and_bad_quantiles() -> None:
    """Raise ``ValueError`` for no data and for a quantile outside 0..1."""
    with pytest.raises(ValueError, match="no data"):
        inclusive_percentile([], 0.5)
    with pytest.raises(ValueError, match="outside"):
        inclusive_percentile([1.0], 1.5)


def test_summary_is_exact_up_to_the_limit() -> None:
    """Keep every sample, and exact percentiles, while at or under the limit."""
    stats = MetricStats(exact_limit=10)
    for value in range(1, 11):
        stats.add(float(value))
    summary = stats.summary()
    assert summary is not None
    # rank (10 - 1) * q: p50 4.5 -> 5.5, p95 8.55 -> 9.55, p99 8.91 -> 9.91.
    assert (summary.count, summary.total, summary.mean) == (10, 55.0, 5.5)
    assert (summary.min, summary.max) == (1.0, 10.0)
    assert summary.p50 == pytest.approx(5.5)
    assert summary.p95 == pytest.approx(9.55)
    assert summary.p99 == pytest.approx(9.91)
    assert summary.exact is True
    assert summary.to_dict()["percentiles_exact"] is True


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("uniform", lambda rng: rng.uniform(0.001, 2.0)),
        ("lognormal", lambda rng: rng.lognormvariate(-3.0, 1.0)),
    ],
)
def test_sketch_beyond_the_limit_stays_within_two_percent(
    name: str, draw: Callable[[random.Random], float]
) -> None:
    """Estimate p50/p95/p99 within 2% once samples overflow into the sketch."""
    rng = random.Random(11)
    values = [draw(rng) for _ in range(20_000)]
    stats = MetricStats(exact_limit=2048)
    for value in values:
        stats.add(value)
    summary = stats.summary()
    assert summary is not None
    assert summary.exact is False
    assert summary.count == len(values)
    assert summary.total == pytest.approx(math.fsum(values))
    assert (summary.min, summary.max) == (min(values), max(values))
    for q, estimate in ((0.50, summary.p50), (0.95, summary.p95), (0.99, summary.p99)):
        assert estimate == pytest.approx(_exact(values, q), rel=0.02), (name, q)


def test_non_finite_samples_are_rejected() -> None:
    """Raise ``ValueError`` for NaN and infinity and leave the totals unchanged."""
    stats = MetricStats(exact_limit=10)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not finite"):
            stats.add(bad)
    assert stats.count == 0
    assert stats.summary() is None


def test_merge_within_the_limit_stays_exact() -> None:
    """Merge two small metrics into exactly the percentiles of the combined data."""
    left, right = MetricStats(exact_limit=20), MetricStats(exact_limit=20)
    for value in (1.0, 2.0, 3.0):
        left.add(value)
    for value in (4.0, 10.0):
        right.add(value)
    left.merge(right)
    summary = left.summary()
    assert summary is not None
    combined = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert summary.exact is True
    assert (summary.count, summary.total, summary.max) == (5, 20.0, 10.0)
    # rank 4 * 0.95 = 3.8 -> 4 + 0.8 * (10 - 4) = 8.8
    assert summary.p95 == pytest.approx(8.8)
    assert summary.p50 == _exact(combined, 0.5)


def test_merge_past_the_limit_uses_a_sketch_with_exact_totals() -> None:
    """Keep count, total, min and max exact when a merge overflows the limit."""
    rng = random.Random(5)
    first = [rng.uniform(0.01, 1.0) for _ in range(300)]
    second = [rng.uniform(0.5, 3.0) for _ in range(300)]
    left, right = MetricStats(exact_limit=400), MetricStats(exact_limit=400)
    for value in first:
        left.add(value)
    for value in second:
        right.add(value)
    left.merge(right)
    summary = left.summary()
    assert summary is not None
    everything = first + second
    assert summary.exact is False
    assert summary.count == 600
    assert summary.total == pytest.approx(math.fsum(everything))
    assert (summary.min, summary.max) == (min(everything), max(everything))
    assert summary.p50 == pytest.approx(_exact(everything, 0.5), rel=0.02)


def test_merge_of_an_empty_metric_changes_nothing() -> None:
    """Leave a metric as it was when merging one with no samples."""
    stats, empty = MetricStats(exact_limit=5), MetricStats(exact_limit=5)
    stats.add(2.0)
    stats.merge(empty)
    summary = stats.summary()
    assert summary is not None
    assert (summary.count, summary.p99, summary.exact) == (1, 2.0, True)


@pytest.mark.parametrize("count", [10, 3_000])
def test_add_many_equals_adding_one_by_one(count: int) -> None:
    """A batch gives the one-by-one count, min, max, total and percentiles."""
    rng = random.Random(count)
    values = [rng.lognormvariate(-6.0, 1.0) for _ in range(count)]
    single, batched = MetricStats(exact_limit=2048), MetricStats(exact_limit=2048)
    for value in values:
        single.add(value)
    for start in range(0, count, 256):
        batched.add_many(values[start : start + 256])
    one, many = single.summary(), batched.summary()
    assert one is not None and many is not None
    assert (many.count, many.min, many.max) == (count, min(values), max(values))
    assert many.total == pytest.approx(math.fsum(values), rel=1e-12)
    assert (many.p50, many.p95, many.p99) == pytest.approx((one.p50, one.p95, one.p99))
    assert many.exact is one.exact is (count <= 2048)


def test_add_many_rejects_a_non_finite_value() -> None:
    """A NaN in a batch raises ValueError after the values before it."""
    stats = MetricStats(exact_limit=10)
    with pytest.raises(ValueError, match="not finite"):
        stats.add_many([1.0, 2.0, math.nan, 4.0])
    summary = stats.summary()
    assert summary is not None and (summary.count, summary.total) == (2, 3.0)
