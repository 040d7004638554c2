"""Feed a DDSketch lazily: bin counts kept in a dict, one store ``add`` per bin."""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ddsketch import LogarithmicMapping
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.store import DenseStore

# A relative accuracy of 1% bounds a sketch by the spread of its values, not
# their number: a few KB for typical latencies, about 22 KB over six decades.
SKETCH_RELATIVE_ACCURACY = 0.01
#: Values wait in a list until this many are binned together.
VALUE_BATCH = 64
#: Bin counts wait until this many bins have some; then they go into the
#: sketch's store, one weighted ``add`` per bin. 128 cost the same per timer block
#: under callgrind but left up to twice the memory waiting per name, which
#: the collector benchmarks saw as growth after warm-up (20%) depending on
#: where in the cycle they read; 32 cost 1.5k instructions more per block.
PENDING_BINS = 64

# The mapping DDSketch(SKETCH_RELATIVE_ACCURACY) makes for itself, asked only
# for public figures (the bin ratio, the smallest value it tells from 0, a
# value's key) and shared by every sketch here.
_MAPPING = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)
_MIN_POSITIVE = _MAPPING.min_possible
# Bin k of the sketch holds the values in (gamma^(k-1), gamma^k].
_BINS_PER_OCTAVE = 1.0 / math.log2(_MAPPING.gamma)
_log2 = math.log2
_ceil = math.ceil
#: Run an iterator to its end in C, keeping nothing.
_consume: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend

#: Set (to anything non-empty) to use the Python code even where the C code
#: is built: the C bin counting here (``_fold.count_bins``), the records'
#: split in ``threadlog``, and the call-site walk (``db.framewalk``).
PURE_PYTHON_ENV = "PERFPROBE_PURE_PYTHON"
CountBins = Callable[
    [list[float], dict[int, int], float, float], "tuple[float, float, float] | None"
]


def load_fold(name: str) -> Any:
    """Return ``perfprobe._fold``'s function ``name``, or ``None``.

    ``None`` where the extension is not built (or built for another Python)
    or ``PURE_PYTHON_ENV`` is set: the caller then runs its Python
    definition.
    """
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        from . import _fold
    except ImportError:
        return None
    return getattr(_fold, name, None)


def load_count_bins() -> CountBins | None:
    """Return the C bin counting where built and not turned off, else ``None``."""
    found: CountBins | None = load_fold("count_bins")
    return found


_count_bins = load_count_bins()


def count_sorted_bins(ordered: list[float], counts: dict[int, int]) -> None:
    """Add to ``counts`` how many of ``ordered``'s values fall in each bin.

    ``ordered`` is sorted and every value is above ``_MIN_POSITIVE``. Each
    run of values in one bin costs a binary search for its end and three
    bin numbers, not a logarithm per value: latencies bunch in a few bins.
    Each value is counted in bin ``ceil(log2(v) / log2(gamma))``, which is
    ddsketch's own key: ddsketch computes it through a slower route that
    could round differently in the last bit, so a value within a few ulps
    of a bin edge might land in the neighbouring bin, whose value is still
    within the sketch's relative accuracy of it (it lies on their shared
    edge); ``tests/perfprobe/test_sketch.py`` finds no such value.
    """
    end = len(ordered)
    first = 0
    while first < end:
        key = _ceil(_log2(ordered[first]) * _BINS_PER_OCTAVE)
        # The bin's upper edge, gamma^key, computed in floating point; the
        # cut is then moved until the bins on both sides of it agree.
        cut = bisect_right(ordered, 2.0 ** (key / _BINS_PER_OCTAVE), first)
        while (
            cut > first + 1 and _ceil(_log2(ordered[cut - 1]) * _BINS_PER_OCTAVE) > key
        ):
            cut -= 1
        while cut < end and _ceil(_log2(ordered[cut]) * _BINS_PER_OCTAVE) <= key:
            cut += 1
        counts[key] = counts.get(key, 0) + cut - first
        first = cut


def bin_value(key: int) -> float:
    """Return a value in the middle of bin ``key``, far from both its edges."""
    return math.pow(2.0, (key - 0.5) / _BINS_PER_OCTAVE)


def _add_in_range(store: DenseStore, counts: dict[int, int]) -> None:
    """Add ``counts`` to ``store``, every key within its range, as ``add`` would.

    In C where built (``_fold.add_in_range``): the store's count then takes
    the counts' sum at once, which is the same as one by one for counts
    under 2**53.
    """
    if _c_add_in_range is not None:
        added = _c_add_in_range(store.bins, store.offset, counts)
        if added is not None:
            store.count += added
            return
    bins = store.bins
    offset = store.offset
    total = store.count
    for key, weight in counts.items():
        bins[key - offset] += weight
        total += weight
    store.count = total


_c_add_in_range: Callable[[list[float], int, dict[int, int]], int | None] | None = (
    load_fold("add_in_range")
)


def _direct_adds_work() -> bool:
    """Return whether ``_add_in_range`` fills a ``DenseStore`` as its ``add`` does.

    It writes ddsketch's attributes (``bins``, ``offset``, ``count``), which
    a later ddsketch may lay out otherwise: checked once on import, and the
    store's own ``add`` used where they differ.
    """
    try:
        direct, reference = DenseStore(), DenseStore()
        counts = {-3: 2, 0: 1, 7: 5, 40: 3}
        for store in (direct, reference):
            store.add(-5, 1)
            store.add(90, 4)
        _add_in_range(direct, counts)
        for key, weight in counts.items():
            reference.add(key, weight)
        return (
            type(direct.bins) is list
            and direct.bins == reference.bins
            and direct.count == reference.count
            and (direct.offset, direct.min_key, direct.max_key)
            == (reference.offset, reference.min_key, reference.max_key)
        )
    except Exception:
        return False


_DIRECT_ADDS = _direct_adds_work()


class BatchedSketch:
    """A DDSketch that takes values in batches and keeps their bin counts.

    ``DDSketch.add`` costs about 235 bytecodes per value in pure Python. Here
    a value is appended to a list; every ``VALUE_BATCH`` values are sorted
    and counted per bin (``count_sorted_bins``), and once ``PENDING_BINS``
    bins have counts, or when the sketch is read, each bin's count goes into
    the sketch's store as one weighted ``add`` of its key. The sketch keeps
    only a count per bin, so its quantiles are those of adding every value
    on its own. Memory stays bounded: at most ``VALUE_BATCH`` values and
    ``PENDING_BINS`` bins wait. Not thread-safe, like ``MetricStats``.

    The stores are ddsketch's ``DenseStore``s, the two a ``DDSketch`` makes
    for itself, fed through the store's own ``add(key, weight)``: a bin's
    count goes in without a value made for it, mapped back to its key and
    added to the sum, minimum and maximum, which nothing here reads
    (``MetricStats`` keeps its own). ``sketch`` puts them together as a
    ``BaseDDSketch`` (ddsketch's constructor for a sketch over given
    stores), which counts what they hold.
    """

    __slots__ = ("_counts", "_negative", "_store", "_values", "_zero_count")

    def __init__(self) -> None:
        self._store = DenseStore()
        self._negative = DenseStore()
        # A float, as DDSketch's own: its zero values count 1.0 each.
        self._zero_count = 0.0
        # A list, not an array("d"): storing into an array parses each value
        # (about 300 instructions), a list only keeps a reference.
        self._values: list[float] = []
        #: Values counted per bin and not yet in the store.
        self._counts: dict[int, int] = {}

    @property
    def sketch(self) -> BaseDDSketch:
        """Return a sketch of the values in the stores (not those waiting).

        The sketch reads the stores as they are; its own sum, minimum and
        maximum are not kept.
        """
        return BaseDDSketch(_MAPPING, self._store, self._negative, self._zero_count)

    def add(self, value: float) -> None:
        """Add one value."""
        values = self._values
        values.append(value)
        if len(values) >= VALUE_BATCH:
            self._bin()

    def extend(self, values: Iterable[float]) -> None:
        """Add several values."""
        waiting = self._values
        waiting.extend(values)
        if len(waiting) >= VALUE_BATCH:
            self._bin()

    def extend_summarised(
        self, values: list[float]
    ) -> tuple[float, float, float] | None:
        """Add a batch binned at once in C; return its sum, minimum and maximum.

        Return ``None``, with nothing added, where the C counting is not
        built or the batch holds a value it leaves to the Python path (not a
        float, not finite, not above the smallest positive bin); the caller
        then adds the batch the usual way. The sum is ``sum(values)``.
        """
        count_bins = _count_bins
        if count_bins is None:
            return None
        summary = count_bins(values, self._counts, _BINS_PER_OCTAVE, _MIN_POSITIVE)
        if summary is not None and len(self._counts) >= PENDING_BINS:
            self._flush_bins()
        return summary

    def _bin(self) -> None:
        values = self._values
        self._values = []
        if not values:
            return
        values.sort()
        if values[0] <= _MIN_POSITIVE:
            # Zero, negative or denormal: where DDSketch.add puts each (rare
            # for durations and counts, so one by one).
            tiny = bisect_right(values, _MIN_POSITIVE)
            for value in values[:tiny]:
                if value < -_MIN_POSITIVE:
                    self._negative.add(_MAPPING.key(-value), 1.0)
                else:
                    self._zero_count += 1.0
            del values[:tiny]
        count_sorted_bins(values, self._counts)
        if len(self._counts) >= PENDING_BINS:
            self._flush_bins()

    def _flush_bins(self) -> None:
        counts = self._counts
        self._counts = {}
        add = self._store.add
        # The lowest and highest keys first: the store then grows at most
        # twice, and every other key falls inside its range.
        low = min(counts)
        add(low, counts.pop(low))
        if counts:
            high = max(counts)
            add(high, counts.pop(high))
        store = self._store
        if _DIRECT_ADDS and type(store) is DenseStore:
            # Every other key now falls inside the store's range, where
            # ``add`` is ``bins[key - offset] += weight`` and then ``count +=
            # weight``: done here, without its two Python calls a bin.
            _add_in_range(store, counts)
        else:
            _consume(map(add, counts, counts.values()))

    def settle(self) -> BaseDDSketch:
        """Put every waiting value into the stores and return ``sketch``."""
        self._bin()
        if self._counts:
            self._flush_bins()
        return self.sketch

    def merge(self, other: BatchedSketch) -> None:
        """Fold ``other``'s values into this sketch."""
        self.settle()
        other.settle()
        self._store.merge(other._store)
        self._negative.merge(other._negative)
        self._zero_count += other._zero_count

    def quantile(self, q: float) -> float | None:
        """Return the sketch's estimate of the ``q`` quantile, ``None`` if empty."""
        value = self.settle().get_quantile_value(q)
        return None if value is None else float(value)
