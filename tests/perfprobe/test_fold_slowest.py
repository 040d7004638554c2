"""Tests for the slowest queries a fold keeps: only those above the floor ranked."""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

import pytest

from perfprobe import querytable
from perfprobe.conf import PerfprobeSettings
from perfprobe.querytable import QueryTable, indices_above

from .extensions import needs_extension

try:
    from perfprobe._fold import indices_above as c_indices_above
except ImportError:  # pragma: no cover - depends on the build
    c_indices_above = None

needs_c = needs_extension(c_indices_above, "the C extension perfprobe._fold")
BOTH = [
    pytest.param(True, id="c", marks=needs_c),
    pytest.param(False, id="python"),
]


def table(keep: int) -> QueryTable:
    """Return a query table that keeps the ``keep`` slowest queries."""
    return QueryTable(PerfprobeSettings(MAX_SLOW_QUERIES=keep))


def one_by_one(batches: list[list[float]], keep: int) -> list[tuple[float, int]]:
    """Return the slowest as adding each query in turn keeps them: (duration, tag)."""
    heap: list[tuple[float, int, int]] = []
    sequence = 0
    for batch in batches:
        for duration_s in batch:
            tag = sequence
            if len(heap) < keep:
                heapq.heappush(heap, (duration_s, sequence, tag))
            elif duration_s > heap[0][0]:
                heapq.heapreplace(heap, (duration_s, sequence, tag))
            sequence += 1
    return [(d, tag) for d, _, tag in sorted(heap, reverse=True)]


def folded(
    batches: list[list[float]], keep: int, monkeypatch: pytest.MonkeyPatch, c: bool
) -> list[tuple[float, int]]:
    """Return the slowest a table keeps of the batches added with add_totals."""
    if not c:
        monkeypatch.setattr(querytable, "_indices_above", None)
    added = table(keep)
    sequence = 0
    for batch in batches:
        records = [
            [duration_s, sequence + index] for index, duration_s in enumerate(batch)
        ]
        sequence += len(batch)
        added.add_totals(records, batch)
    return [(r[0], r[1]) for r in added.slowest()]  # type: ignore[index]


@pytest.mark.parametrize("c", BOTH)
@pytest.mark.parametrize("seed", range(6))
def test_batches_keep_the_slowest_that_one_by_one_keeps(
    seed: int, c: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches with many equal durations keep the same queries as one by one."""
    rng = random.Random(seed)
    keep = rng.choice([1, 3, 5, 50])
    # Few distinct durations, so that ties at the floor are the rule; some
    # batches hold more above the floor than are kept.
    batches = [
        [
            rng.choice([0.001, 0.002, 0.003, 0.004]) * rng.choice([1, 1, 1, 3])
            for _ in range(rng.randint(1, 300))
        ]
        for _ in range(12)
    ]

    assert folded(batches, keep, monkeypatch, c) == one_by_one(batches, keep)


class CountingList(list[float]):
    """A list of durations that counts reads of single items."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        CountingList.reads += 1
        return super().__getitem__(index)


def test_a_batch_is_not_ranked_whole_for_its_few_slow_queries() -> None:
    """Of 2,000 queries two pass the floor: only they are read one by one."""
    added = table(5)
    added.add_totals([[0.5, tag] for tag in range(5)], [0.5] * 5)
    durations = CountingList([0.001] * 2_000)
    durations[700] = 0.9
    durations[1500] = 0.8
    CountingList.reads = 0

    added.add_totals([[d, tag] for tag, d in enumerate(durations)], durations)

    # Ranking the whole batch read every duration through its sort key.
    assert CountingList.reads <= 4
    assert [r[0] for r in added.slowest()][:3] == [0.9, 0.8, 0.5]  # type: ignore[index]


@needs_c
@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.0, 2.0, 3.0],
        [3.0, 2.0, 2.0, 1.0, 2.5],
        [math.nan, 2.5, -0.0, math.inf, -math.inf, 2.0],
        [random.Random(3).random() * 4 for _ in range(1_000)],
    ],
)
def test_c_indices_above_match_the_python_definition(values: list[float]) -> None:
    """The indices above 2.0 (NaN never above), in order, in C as in Python."""
    assert c_indices_above is not None
    expected = [index for index, value in enumerate(values) if value > 2.0]

    assert c_indices_above(values, 2.0) == expected
    assert indices_above(values, 2.0) == expected
    assert c_indices_above(values, math.nan) == []


@needs_c
@pytest.mark.parametrize(
    ("values", "floor"),
    [([1.0, 2, 3.0], 1.0), ([1.0], 1), ((1.0, 2.0), 1.0), (CountingList([1.0]), 0.5)],
)
def test_c_indices_above_leave_anything_but_floats_in_a_list_to_python(
    values: Any, floor: Any
) -> None:
    """An int among the values, an int floor, a tuple or a subclass: None."""
    assert c_indices_above is not None
    assert c_indices_above(values, floor) is None
