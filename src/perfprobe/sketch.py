"""Feed a DDSketch in batches: values binned in C, one ``add`` per bin."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable
from itertools import repeat

from ddsketch import DDSketch, LogarithmicMapping

# A relative accuracy of 1% bounds a sketch by the spread of its values, not
# their number: a few KB for typical latencies, about 22 KB over six decades.
SKETCH_RELATIVE_ACCURACY = 0.01
#: Values wait in a list until this many are binned together.
VALUE_BATCH = 64
#: Bin counts wait until this many bins have some (a few KB at most); then
#: they go into the sketch, one weighted ``add`` per bin.
PENDING_BINS = 64

# The mapping DDSketch(SKETCH_RELATIVE_ACCURACY) makes for itself, asked only
# for public figures: the bin ratio and the smallest value it tells from 0.
_MAPPING = LogarithmicMapping(SKETCH_RELATIVE_ACCURACY)
_MIN_POSITIVE = _MAPPING.min_possible
# Bin k of the sketch holds the values in (gamma^(k-1), gamma^k].
_BINS_PER_OCTAVE = 1.0 / math.log2(_MAPPING.gamma)


def bins_of(values: Iterable[float]) -> list[int]:
    """Return the bin number of each value (all above ``_MIN_POSITIVE``).

    ``ceil(log2(v) / log2(gamma))`` computed by ``map`` without a Python
    frame per value. ddsketch's own ``key`` reaches the same bin through a
    slower route that may round differently in the last bit, so the two can
    disagree for a value within a few ulps of a bin boundary; such a value
    is then counted in the neighbouring bin, whose value is still within
    the sketch's relative accuracy of it (it lies on their shared edge).
    """
    logs = map(math.log2, values)
    return list(map(math.ceil, map(operator.mul, logs, repeat(_BINS_PER_OCTAVE))))


class BatchedSketch:
    """A DDSketch that takes values in batches and counts their bins in C.

    ``DDSketch.add`` costs about 235 bytecodes per value in pure Python. Here
    a value is appended to an array; every ``VALUE_BATCH`` values are binned
    at once and counted per bin, and once ``PENDING_BINS`` bins have counts,
    each bin goes into the sketch as one ``add`` of one of its values,
    weighted by the bin's count. The sketch keeps only a count per bin, so
    its quantiles are those of adding every value on its own. Memory stays
    bounded: at most ``VALUE_BATCH`` values and ``PENDING_BINS`` bins wait.
    Not thread-safe, like ``MetricStats``.
    """

    __slots__ = ("_representatives", "_values", "_weights", "sketch")

    def __init__(self) -> None:
        self.sketch = DDSketch(relative_accuracy=SKETCH_RELATIVE_ACCURACY)
        # A list, not an array("d"): storing into an array parses each value
        # (about 300 instructions), a list only keeps a reference.
        self._values: list[float] = []
        self._weights: Counter[int] = Counter()
        #: One value of each bin with a count: ``add`` maps it to its bin.
        self._representatives: dict[int, float] = {}

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

    def _bin(self) -> None:
        values = self._values
        self._values = []
        if not values:
            return
        if min(values) <= _MIN_POSITIVE:
            # Zero, negative or denormal: the sketch's own add knows where
            # each goes (rare for durations and counts, so one by one).
            for value in values:
                self.sketch.add(value)
            return
        bins = bins_of(values)
        self._weights.update(bins)
        self._representatives.update(zip(bins, values, strict=True))
        if len(self._weights) >= PENDING_BINS:
            self._flush_bins()

    def _flush_bins(self) -> None:
        add = self.sketch.add
        representatives = self._representatives
        for key, weight in self._weights.items():
            add(representatives[key], weight)
        self._weights = Counter()
        self._representatives = {}

    def settle(self) -> DDSketch:
        """Put every waiting value into the sketch and return the sketch."""
        self._bin()
        if self._weights:
            self._flush_bins()
        return self.sketch

    def merge(self, other: BatchedSketch) -> None:
        """Fold ``other``'s values into this sketch."""
        self.settle().merge(other.settle())

    def quantile(self, q: float) -> float | None:
        """Return the sketch's estimate of the ``q`` quantile, ``None`` if empty."""
        value = self.settle().get_quantile_value(q)
        return None if value is None else float(value)
