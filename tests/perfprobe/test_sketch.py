"""Tests for perfprobe.sketch: a DDSketch fed in batches, binned in C."""

from __future__ import annotations

import random

import pytest
from ddsketch import DDSketch, LogarithmicMapping

from perfprobe.sketch import (
    PENDING_BINS,
    SKETCH_RELATIVE_ACCURACY,
    VALUE_BATCH,
    BatchedSketch,
    bins_of,
)

QUANTILES = [i / 200 for i in range(201)]


def one_by_one(values: list[float]) -> DDSketch:
    """Return ddsketch's own sketch of ``values``, added one at a time."""
    sketch = DDSketch(relative_accuracy=SKETCH_RELATIVE_ACCURACY)
    for value in values:
        sketch.add(value)
    return sketch


def assert_same_quantiles(batched: BatchedSketch, reference: DDSketch) -> None:
    """Every quantile of the batched sketch is the reference sketch's."""
    for q in QUANTILES:
        expected = reference.get_quantile_value(q)
        assert batched.quantile(q) == pytest.approx(expected, rel=1e-12), q


def test_bins_are_ddsketchs_own_keys() -> None:
    """Values over eighteen decades fall in the bins ddsketch's mapping names."""
    mapping = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)
    rng = random.Random(7)
    values = [10 ** rng.uniform(-12.0, 6.0) for _ in range(50_000)]
    assert bins_of(values) == [mapping.key(v) for v in values]


@pytest.mark.parametrize("count", [1, VALUE_BATCH - 1, VALUE_BATCH, 5_000])
def test_quantiles_match_adding_one_by_one(count: int) -> None:
    """Batches binned in C give the quantiles of ddsketch fed value by value."""
    rng = random.Random(count)
    values = [rng.lognormvariate(-7.0, 1.5) for _ in range(count)]
    batched = BatchedSketch()
    for value in values[: count // 2]:
        batched.add(value)
    batched.extend(values[count // 2 :])
    assert_same_quantiles(batched, one_by_one(values))


def test_zero_and_negative_values_take_the_sketchs_own_path() -> None:
    """Zeros and negatives (no logarithm) are counted where ddsketch puts them."""
    rng = random.Random(3)
    values = [rng.choice([0.0, -rng.random(), rng.random()]) for _ in range(1_000)]
    batched = BatchedSketch()
    batched.extend(values)
    assert_same_quantiles(batched, one_by_one(values))


def test_wide_spread_keeps_few_values_waiting() -> None:
    """Values over six decades reach the sketch in bounded batches, counts whole."""
    rng = random.Random(11)
    values = [10 ** rng.uniform(-5.0, 1.0) for _ in range(10_000)]
    batched = BatchedSketch()
    for value in values:
        batched.add(value)
        assert len(batched._values) < VALUE_BATCH
        assert len(batched._weights) < PENDING_BINS
    assert batched.settle().count == pytest.approx(len(values))
    assert_same_quantiles(batched, one_by_one(values))


def test_merge_equals_one_sketch_of_both() -> None:
    """Merging two batched sketches gives the quantiles of all their values."""
    rng = random.Random(5)
    first = [rng.expovariate(100.0) for _ in range(700)]
    second = [rng.expovariate(10.0) for _ in range(300)]
    left, right = BatchedSketch(), BatchedSketch()
    left.extend(first)
    right.extend(second)
    left.merge(right)
    assert_same_quantiles(left, one_by_one(first + second))


def test_empty_sketch_has_no_quantile() -> None:
    """A sketch with no values answers None."""
    assert BatchedSketch().quantile(0.5) is None
