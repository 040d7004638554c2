"""Tests for the C bin counting of perfprobe._sketchbins and its Python fallback."""

from __future__ import annotations

import math
import os
import random
from collections import Counter

import pytest
from ddsketch import LogarithmicMapping

from perfprobe import sketch
from perfprobe.sketch import (
    _BINS_PER_OCTAVE,
    _MIN_POSITIVE,
    PURE_PYTHON_ENV,
    SKETCH_RELATIVE_ACCURACY,
    load_count_bins,
)
from perfprobe.stats import MetricStats

try:
    from perfprobe._sketchbins import count_bins as c_count_bins
except ImportError:  # pragma: no cover - depends on the build
    c_count_bins = None

# CI sets this so that a build that silently lost the extension fails here
# instead of skipping.
REQUIRE_ENV = "PERFPROBE_REQUIRE_EXTENSION"
needs_c = pytest.mark.skipif(
    c_count_bins is None and not os.environ.get(REQUIRE_ENV),
    reason="the C extension perfprobe._sketchbins is not built",
)
MAPPING = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)


def test_the_extension_is_built_where_required() -> None:
    """With PERFPROBE_REQUIRE_EXTENSION set, the C counting must be importable."""
    if not os.environ.get(REQUIRE_ENV):
        pytest.skip(f"{REQUIRE_ENV} is not set")
    assert c_count_bins is not None


def _count(values: list[float], counts: dict[int, int]) -> object:
    assert c_count_bins is not None
    return c_count_bins(values, counts, _BINS_PER_OCTAVE, _MIN_POSITIVE)


@needs_c
def test_c_counts_match_ddsketchs_own_keys() -> None:
    """Unsorted values over eighteen decades and at bin edges get ddsketch's keys."""
    rng = random.Random(21)
    sparse = [10 ** rng.uniform(-12.0, 6.0) for _ in range(20_000)]
    dense = [rng.lognormvariate(-13.0, 0.05) for _ in range(20_000)]
    edges = [
        MAPPING.value(k) * (1 + d)
        for k in range(-500, 500, 7)
        for d in (-1e-15, 0.0, 1e-15)
    ]
    rng.shuffle(edges)
    # More distinct bins than the C table holds at once (sparse), too.
    for values in (sparse, dense, edges):
        counts: dict[int, int] = {7: 2}
        _count(values, counts)
        expected = Counter(MAPPING.key(v) for v in values)
        expected[7] += 2
        assert counts == dict(expected)


@needs_c
def test_c_counts_return_the_batch_sum_and_extremes() -> None:
    """The summary is the builtin sum, min and max of the batch."""
    values = [0.003, 0.0015, 0.25, 1e-6, 0.0015]
    assert _count(values, {}) == (sum(values), 1e-6, 0.25)


@needs_c
@pytest.mark.parametrize(
    "odd", [0.0, -1.0, math.inf, math.nan, 1e-320, 3, True], ids=repr
)
def test_c_counts_leave_unusual_batches_untouched(odd: object) -> None:
    """A zero, negative, non-finite, denormal or non-float value: None, no change."""
    counts = {3: 1}
    assert _count([0.5, 0.25, odd, 0.125], counts) is None  # type: ignore[list-item]
    assert counts == {3: 1}


def test_pure_python_setting_turns_the_c_counting_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PERFPROBE_PURE_PYTHON set no C counting is loaded."""
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert load_count_bins() is None


def _fed_in_batches(batches: list[list[float]]) -> MetricStats:
    stats = MetricStats(exact_limit=10)
    for batch in batches:
        stats.add_many(batch)
    return stats


@pytest.mark.parametrize("with_odd_batch", [False, True])
def test_metric_figures_are_the_same_with_and_without_c(
    monkeypatch: pytest.MonkeyPatch, with_odd_batch: bool
) -> None:
    """Count, sum, extremes and percentiles agree between the C and Python paths."""
    rng = random.Random(4)
    batches = [[rng.lognormvariate(-9.0, 1.0) for _ in range(256)] for _ in range(20)]
    if with_odd_batch:
        batches[7][100] = 0.0
    with_c = _fed_in_batches(batches)
    monkeypatch.setattr(sketch, "_count_bins", None)
    without_c = _fed_in_batches(batches)
    flat = [v for batch in batches for v in batch]
    for stats in (with_c, without_c):
        assert stats.count == len(flat)
        assert stats.total == pytest.approx(math.fsum(flat), rel=1e-12)
        assert (stats.min, stats.max) == (min(flat), max(flat))
    assert with_c.summary() == without_c.summary()
