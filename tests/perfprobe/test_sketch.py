"""Tests for perfprobe.sketch: a DDSketch fed in batches, binned in C."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from ddsketch import DDSketch, LogarithmicMapping
from ddsketch.store import DenseStore

from perfprobe import sketch
from perfprobe.sketch import (
    PENDING_BINS,
    SKETCH_RELATIVE_ACCURACY,
    VALUE_BATCH,
    BatchedSketch,
    bin_value,
    count_sorted_bins,
)

from .extensions import needs_extension

QUANTILES = [i / 200 for i in range(201)]
try:
    from perfprobe._fold import add_in_range as c_add_in_range
except ImportError:  # pragma: no cover - depends on the build
    c_add_in_range = None
needs_c = needs_extension(c_add_in_range, "the C extension perfprobe._fold")


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


def test_sorted_runs_are_counted_in_hand_computed_bins() -> None:
    """Bins by hand: gamma = 1.01 / 0.99, bin k is (gamma^(k-1), gamma^k].

    ln(gamma) = 0.0200007, so 0.99 lies at -0.50 bins (bin 0), 1.0 at 0
    (bin 0, the upper edge), 1.01 at 0.497 (bin 1), 1.03 at 1.478 (bin 2)
    and 2.0 at 34.66 (bin 35).
    """
    counts: dict[int, int] = {}
    count_sorted_bins([0.99, 1.0, 1.0, 1.01, 1.03, 1.03, 1.03, 2.0], counts)
    assert counts == {0: 3, 1: 1, 2: 3, 35: 1}
    count_sorted_bins([1.0, 2.0], counts)
    assert counts == {0: 4, 1: 1, 2: 3, 35: 2}


def test_sorted_runs_match_ddsketchs_own_keys() -> None:
    """Runs over eighteen decades, dense and sparse, get ddsketch's key counts."""
    mapping = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)
    rng = random.Random(9)
    sparse = [10 ** rng.uniform(-12.0, 6.0) for _ in range(20_000)]
    dense = [rng.lognormvariate(-13.0, 0.05) for _ in range(20_000)]
    # Values on both sides of bin edges, where rounding decides.
    edges = [
        mapping.value(k) * (1 + d)
        for k in range(-500, 500, 7)
        for d in (-1e-15, 0.0, 1e-15)
    ]
    for values in (sparse, dense, edges):
        counts: dict[int, int] = {}
        count_sorted_bins(sorted(values), counts)
        expected = Counter(mapping.key(v) for v in values)
        assert counts == dict(expected)


def test_bin_values_fall_in_their_own_bins() -> None:
    """The value a bin is fed to the sketch with maps back to that bin."""
    mapping = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)
    for key in range(-1_500, 1_500):
        assert mapping.key(bin_value(key)) == key


def test_counts_wait_until_read_and_give_direct_quantiles() -> None:
    """Bin counts kept aside until read give the quantiles of direct adds.

    Three bins by hand (see above): 1.0 in bin 0, 1.01 in bin 1, 2.0 in
    bin 35; nothing reaches the sketch until a quantile is asked for.
    """
    values = [1.0] * 50 + [1.01] * 30 + [2.0] * 20
    batched = BatchedSketch()
    batched.extend(values)
    assert batched._counts == {0: 50, 1: 30, 35: 20}
    assert batched.sketch.count == 0
    assert_same_quantiles(batched, one_by_one(values))
    assert batched.sketch.count == 100
    assert batched._counts == {}


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
        assert len(batched._counts) < PENDING_BINS
    assert batched.settle().count == pytest.approx(len(values))
    assert_same_quantiles(batched, one_by_one(values))


def test_a_flush_adds_each_bin_in_range_without_the_store_s_add() -> None:
    """Of 100 bins waiting, the store's own add takes the lowest and highest only."""
    batched = BatchedSketch()
    store = batched._store
    added: list[int] = []
    own_add = store.add

    def counting_add(key: int, weight: float = 1.0) -> None:
        added.append(key)
        own_add(key, weight)

    store.add = counting_add  # type: ignore[method-assign]
    values = [bin_value(key) for key in range(-50, 50) for _ in range(key % 3 + 1)]
    random.Random(2).shuffle(values)
    batched.extend(values)
    batched.settle()

    assert sketch._DIRECT_ADDS
    assert sorted(added) == [-50, 49]
    reference = one_by_one(values)
    assert key_counts(store) == key_counts(reference._store)
    assert key_counts(store) == {key: key % 3 + 1 for key in range(-50, 50)}
    assert store.count == reference._store.count == len(values)
    assert_same_quantiles(batched, reference)


def test_flushes_take_the_store_s_add_where_its_layout_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DenseStore whose add keeps another layout: found on the check, then used."""
    monkeypatch.setattr(DenseStore, "add", counted_add)
    assert not sketch._direct_adds_work()
    monkeypatch.setattr(sketch, "_DIRECT_ADDS", False)
    values = [bin_value(key) for key in range(-40, 40)]
    batched = BatchedSketch()
    batched.extend(values)
    batched.settle()

    assert batched._store.adds == 80  # type: ignore[attr-defined]


def python_adds(store: DenseStore, counts: dict[int, int]) -> None:
    """Add ``counts`` with the store's own add, one bin at a time."""
    for key, weight in counts.items():
        store.add(key, weight)


@needs_c
@pytest.mark.parametrize("seed", range(5))
def test_c_adds_in_range_match_the_store_s_own_adds(seed: int) -> None:
    """Random counts within the range: the same bins, floats and count."""
    assert c_add_in_range is not None
    rng = random.Random(seed)
    direct, reference = DenseStore(), DenseStore()
    for store in (direct, reference):
        store.add(-300, 3)
        store.add(400, 1)
    for _ in range(20):
        counts = {rng.randrange(-300, 401): rng.randrange(1, 10**6) for _ in range(64)}
        added = c_add_in_range(direct.bins, direct.offset, counts)
        assert added == sum(counts.values())
        direct.count += added
        python_adds(reference, counts)
    assert direct.bins == reference.bins
    assert [type(b) for b in direct.bins] == [float] * len(direct.bins)
    assert direct.count == reference.count


@needs_c
@pytest.mark.parametrize(
    "counts",
    [{5: 1, 500: 1}, {5: 1, -501: 1}, {5: 1, True: 1}, {5: 1.0}, {5: 2**53}, {5.0: 1}],
)
def test_c_adds_in_range_change_nothing_unless_all_fit(counts: dict[int, int]) -> None:
    """A key outside the bins or of another type, a float or huge count: None."""
    assert c_add_in_range is not None
    bins = [0.0] * 1000
    assert c_add_in_range(bins, -500, counts) is None
    assert bins == [0.0] * 1000
    assert c_add_in_range([0.0, 1], 0, {1: 1}) is None


def key_counts(store: DenseStore) -> dict[int, float]:
    """Return the store's count in each bin that holds any, by key."""
    return {
        index + store.offset: count for index, count in enumerate(store.bins) if count
    }


def counted_add(self: DenseStore, key: int, weight: float = 1.0) -> None:
    """DenseStore.add as a later ddsketch might write it: its total elsewhere."""
    self.adds = getattr(self, "adds", 0) + 1  # type: ignore[attr-defined]
    index = self._get_index(key)
    self.bins[index] += weight
    self.weight = getattr(self, "weight", 0.0) + weight  # type: ignore[attr-defined]


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


@pytest.mark.parametrize("seed", range(12))
def test_every_path_gives_ddsketchs_own_quantiles_exactly(seed: int) -> None:
    """Values added, extended, binned in C and merged answer as ddsketch's own.

    Each value lands in the store by its key, so the count and every
    quantile (1,001 of them) equal those of a ``DDSketch`` fed each value
    on its own, not just nearly: zeros and negatives included, over spreads
    from one bin to eighteen decades, merged from two sketches.
    """
    rng = random.Random(seed)
    spread = rng.choice([0.0, 0.5, 3.0, 20.0])

    def value() -> float:
        kind = rng.random()
        if kind < 0.05:
            return 0.0
        if kind < 0.1:
            return -rng.lognormvariate(0.0, spread)
        return rng.lognormvariate(-7.0, spread)

    parts: list[BatchedSketch] = [BatchedSketch(), BatchedSketch()]
    fed: list[float] = []
    for _ in range(rng.randrange(1, 40)):
        target = rng.choice(parts)
        batch = [value() for _ in range(rng.randrange(1, 150))]
        fed += batch
        how = rng.randrange(3)
        if how == 0:
            for one in batch:
                target.add(one)
        elif how == 1 or target.extend_summarised(batch) is None:
            # Binned in C, or (a zero or a negative in it) the usual way.
            target.extend(batch)
    left, right = parts
    left.merge(right)
    reference = one_by_one(fed)
    assert left.sketch.count == reference.count
    for step in range(1_001):
        q = step / 1_000
        assert left.quantile(q) == reference.get_quantile_value(q), q
