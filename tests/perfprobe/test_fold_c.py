"""Tests for the C fold loops of perfprobe._fold and their Python fallbacks."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from ddsketch import LogarithmicMapping

from perfprobe import PerformanceMonitor, sketch, threadlog
from perfprobe.collector import Collector
from perfprobe.sketch import (
    _BINS_PER_OCTAVE,
    _MIN_POSITIVE,
    PURE_PYTHON_ENV,
    SKETCH_RELATIVE_ACCURACY,
    load_count_bins,
)
from perfprobe.stats import MetricStats

from .extensions import REQUIRE_ENV, needs_extension

try:
    from perfprobe._fold import count_bins as c_count_bins
    from perfprobe._fold import split_records as c_split_records
except ImportError:  # pragma: no cover - depends on the build
    c_count_bins = None
    c_split_records = None

needs_c = needs_extension(c_count_bins, "the C extension perfprobe._fold")
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
def test_c_counts_of_small_batches_match_ddsketchs_own_keys() -> None:
    """Batches of 1 to 40 values, each bin in a table sized to its batch."""
    rng = random.Random(5)
    for size in [*range(1, 41), *range(1, 41)]:
        values = [10 ** rng.uniform(-7.0, 1.0) for _ in range(size)]
        values += rng.sample(values, min(size, 3))
        counts: dict[int, int] = {}
        _count(values, counts)
        assert counts == dict(Counter(MAPPING.key(v) for v in values))


@needs_c
@pytest.mark.parametrize("odd_key", [None, 2**70, "bin"], ids=repr)
def test_c_counts_add_to_the_bins_already_held(odd_key: object) -> None:
    """Held counts (some past 256) gain the batch's; new bins are added after.

    The dict holds 40 of the batches' bins, 20 others, and maybe a key no
    bin has: an int past a long (skipped in the walk over held keys) or a
    string (every bin then looked up one by one).
    """
    rng = random.Random(8)
    for _ in range(30):
        values = [rng.lognormvariate(-9.0, 1.0) for _ in range(rng.randrange(1, 300))]
        keys = sorted({MAPPING.key(v) for v in values})
        held = {
            key: rng.randrange(1, 1_000) for key in rng.sample(keys, len(keys) // 2)
        }
        held.update({key: 3 for key in range(5_000, 5_020)})
        if odd_key is not None:
            held[odd_key] = 5  # type: ignore[index]
        counts = dict(held)
        _count(values, counts)
        expected = Counter(held)
        expected.update(MAPPING.key(v) for v in values)
        assert counts == dict(expected)
        assert list(counts)[: len(held)] == list(held)


@needs_c
@pytest.mark.parametrize("odd_key", [None, "bin"], ids=repr)
@pytest.mark.parametrize(
    "before", [2**31, 2**63 - 2, 2**63 - 1, 2**63, 2**64 + 3, 10**30, 1.5], ids=repr
)
def test_c_counts_add_to_held_counts_as_python_adds(
    before: int | float, odd_key: object
) -> None:
    """A held count near or past 2**63 - 1 (or a float) gains the batch's as in Python.

    Three values in one bin: the count becomes before + 3, as
    count_sorted_bins' ``counts.get(key, 0) + n`` gives, in the walk over
    plain-int dicts and in the lookup per bin alike. It wrapped to a
    negative count past 2**63 - 1, or raised OverflowError (TypeError for a
    float) with the batch half added.
    """
    values = [0.00100, 0.001001, 0.001002]
    key = MAPPING.key(values[0])
    assert {MAPPING.key(v) for v in values} == {key}
    counts: dict[Any, Any] = {key: before}
    if odd_key is not None:
        counts[odd_key] = 5
    python = dict(counts)

    assert _count(list(values), counts) is not None
    sketch.count_sorted_bins(sorted(values), python)
    assert counts[key] == python[key] == before + 3
    assert type(counts[key]) is type(before)


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
    assert threadlog._load_split_records() is None


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


def _records() -> list[Any]:
    log = object()
    first, second = "first", "second"
    return [
        (first, 0.5, 10.0, None, None, log),
        (first, 0.25, 11.0, None, None, log),
        [second, 2.0, 12.0, "scope", None, log],
        (first, 0.125, 13.0, None, None, log),
        [second, 4.0, 14.0, None, {"k": "v"}, log],
        (second, 8.0, 15.0, None, None, log),
    ]


@needs_c
def test_c_split_matches_the_python_split() -> None:
    """Durations per name in first-seen order, scoped or tagged records aside."""
    assert c_split_records is not None
    records = _records()
    durations, special = c_split_records(records)  # type: ignore[misc]
    assert list(durations.items()) == [
        ("first", [0.5, 0.25, 0.125]),
        ("second", [2.0, 4.0, 8.0]),
    ]
    assert special == [records[2], records[4]]
    assert special[0] is records[2]
    assert (durations, special) == threadlog.split_records(records)


@needs_c
@pytest.mark.parametrize(
    "odd", [("x", 1.0), ["x", 1.0, 2.0, None, None], (b"x", 1.0, 2.0, None, None, 1)]
)
def test_c_split_leaves_anything_but_records_to_python(odd: object) -> None:
    """An item that is not a record of six with a str name gives None."""
    assert c_split_records is not None
    assert c_split_records([*_records(), odd]) is None


def test_blocks_are_counted_alike_with_and_without_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counts per name and scope counts are the same through both splits."""

    def run() -> tuple[dict[str, int], int]:
        mon = PerformanceMonitor(Collector())
        with mon.scope("job") as scope:
            for index in range(600):
                name = "even" if index % 2 == 0 else "odd"
                with mon.measure_execution_time(name):
                    pass
        snapshot = mon.collector.snapshot()
        counts = {k: v[0].count for k, v in snapshot.operations.items()}
        assert scope.summary is not None
        return counts, scope.summary.operation_count

    expected = ({"even": 300, "odd": 300}, 600)
    assert run() == expected
    monkeypatch.setattr(threadlog, "_split_records", None)
    assert run() == expected


# A dict key whose hash is that of the list's first bin: flushing the bins
# counted so far compares it with that bin's key in Python, and its __eq__
# empties the list mid-call (a batch of 400 bins flushes after 128).
_LIST_EMPTIED_MID_CALL = """
import math
from perfprobe._fold import count_bins
from perfprobe.sketch import _BINS_PER_OCTAVE, _MIN_POSITIVE
values = [1.05 ** i for i in range(1, 400)]
first_bin = math.ceil(math.log2(values[0]) * _BINS_PER_OCTAVE)
class Clearing:
    def __hash__(self):
        return hash(first_bin)
    def __eq__(self, other):
        values.clear()
        return False
try:
    count_bins(values, {Clearing(): 1}, _BINS_PER_OCTAVE, _MIN_POSITIVE)
except RuntimeError as exc:
    print("refused:", exc)
"""


@needs_c
def test_c_counts_survive_a_list_emptied_by_a_flush() -> None:
    """Python code run by a flush midway that empties the list is an error, no crash."""
    done = subprocess.run(
        [sys.executable, "-c", _LIST_EMPTIED_MID_CALL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused:")


@needs_c
@pytest.mark.parametrize(
    ("bins_per_octave", "min_positive"),
    [
        (math.nan, _MIN_POSITIVE),
        (math.inf, _MIN_POSITIVE),
        (1e300, _MIN_POSITIVE),
        (0.0, _MIN_POSITIVE),
        (-1.0, _MIN_POSITIVE),
        (_BINS_PER_OCTAVE, -1.0),
        (_BINS_PER_OCTAVE, math.nan),
    ],
)
def test_c_counts_refuse_parameters_that_overflow_a_bin_number(
    bins_per_octave: float, min_positive: float
) -> None:
    """Bins a long cannot hold (or log2 of 0) are refused, nothing counted."""
    assert c_count_bins is not None
    counts: dict[int, int] = {}
    with pytest.raises(ValueError, match="bins_per_octave"):
        c_count_bins([0.0, 3.0, 1e300], counts, bins_per_octave, min_positive)
    assert counts == {}
