"""Aggregate one metric's samples: exact totals plus bounded-memory percentiles."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from .sketch import SKETCH_RELATIVE_ACCURACY, BatchedSketch

__all__ = [
    "PERCENTILES",
    "SKETCH_RELATIVE_ACCURACY",
    "MetricStats",
    "StatsSummary",
    "inclusive_percentile",
]

PERCENTILES = (0.50, 0.95, 0.99)


def inclusive_percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of sorted data, interpolating linearly.

    This is the "inclusive" method of ``statistics.quantiles`` and numpy's
    default ("linear"): the rank ``(n - 1) * q`` is split into its whole and
    fractional parts and the two closest values are interpolated. Raise
    ``ValueError`` on empty data or a ``q`` outside 0..1.
    """
    if not sorted_values:
        raise ValueError("percentile of no data")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q!r} is outside 0..1")
    rank = (len(sorted_values) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True)
class StatsSummary:
    """Totals and percentiles of one metric, in the metric's own unit."""

    count: int
    total: float
    min: float
    max: float
    mean: float
    p50: float
    p95: float
    p99: float
    exact: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        """Return the summary as JSON-ready data."""
        return {
            "count": self.count,
            "total": self.total,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "percentiles_exact": self.exact,
        }


class MetricStats:
    """Running count/sum/min/max plus exact samples that overflow into a sketch.

    Up to ``exact_limit`` samples are kept as they are, so percentiles are
    exact; the next sample moves them all into a DDSketch, fed in batches
    (``perfprobe.sketch``). The class is not thread-safe: the collector holds
    its lock around every call.
    """

    __slots__ = ("_samples", "_sketch", "count", "exact_limit", "max", "min", "total")

    def __init__(self, exact_limit: int) -> None:
        self.exact_limit = exact_limit
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._samples: array[float] | None = array("d")
        self._sketch: BatchedSketch | None = None

    def add(self, value: float) -> None:
        """Record one finite sample; non-finite values raise ``ValueError``."""
        if not math.isfinite(value):
            raise ValueError(f"sample {value!r} is not finite")
        self.count += 1
        self.total += value
        # Comparisons, not min()/max(): this runs twice per recorded query.
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        samples = self._samples
        if samples is not None:
            samples.append(value)
            if len(samples) > self.exact_limit:
                self._to_sketch(samples)
        else:
            assert self._sketch is not None
            self._sketch.add(value)

    def add_many(self, values: Sequence[float]) -> None:
        """Record finite samples as ``add`` would one by one.

        The sum is the batch's own sum added to the running total, so it may
        differ from one-by-one addition in the last bits. A non-finite value
        raises ``ValueError``, the values before it having been recorded.
        """
        if not values:
            return
        sketch = self._sketch
        if sketch is not None and type(values) is list:
            # Past the exact samples, a batch of plain floats is binned in C
            # in one pass, which also gives its sum and extremes: no sort.
            summary = sketch.extend_summarised(values)
            if summary is not None:
                batch_total, low, high = summary
                self.count += len(values)
                self.total += batch_total
                if low < self.min:
                    self.min = low
                if high > self.max:
                    self.max = high
                return
        # The sum of finite values is finite (barring overflow, which the
        # one-by-one path then records as before); NaN and inf are not.
        batch_total = sum(values)
        if not math.isfinite(batch_total):
            for value in values:
                self.add(value)
            return
        self.count += len(values)
        self.total += batch_total
        samples = self._samples
        if samples is None:
            # Sorted once: the ends are the extremes, and the sketch bins
            # sorted values by runs (sorting floats compares them in C
            # directly, where min() and max() go through rich comparison).
            ordered = sorted(values)
            low, high = ordered[0], ordered[-1]
        else:
            low, high = min(values), max(values)
        if low < self.min:
            self.min = low
        if high > self.max:
            self.max = high
        if samples is not None:
            samples.extend(values)
            if len(samples) > self.exact_limit:
                self._to_sketch(samples)
        else:
            assert self._sketch is not None
            self._sketch.extend(ordered)

    def add_runs(self, values: list[float], sums: list[float]) -> None:
        """Record runs of finite samples as ``add_many`` would each run in turn.

        ``values`` holds the runs one after another and ``sums`` the ``sum()``
        of each: the running total adds them one by one, as ``add_many`` adds
        its batch's sum, so it is the same to the last bit. The count, the
        extremes, the exact samples and the sketch's bins do not depend on
        where one run ends (the sketch counts values per bin), so the rest is
        one ``add_many``.
        """
        total = self.total
        self.add_many(values)
        for run_total in sums:
            total += run_total
        self.total = total

    def _to_sketch(self, samples: array[float]) -> None:
        sketch = BatchedSketch()
        sketch.extend(samples)
        self._sketch = sketch
        self._samples = None

    def merge(self, other: MetricStats) -> None:
        """Fold ``other`` into this metric, switching to a sketch if needed."""
        if other.count == 0:
            return
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if (
            self._samples is not None
            and other._samples is not None
            and len(self._samples) + len(other._samples) <= self.exact_limit
        ):
            self._samples.extend(other._samples)
            return
        sketch = self._as_sketch()
        sketch.merge(other._as_sketch())
        self._sketch = sketch
        self._samples = None

    def _as_sketch(self) -> BatchedSketch:
        if self._sketch is not None:
            return self._sketch
        sketch = BatchedSketch()
        sketch.extend(self._samples or ())
        return sketch

    def _sketch_quantile(self, q: float) -> float:
        assert self._sketch is not None
        value = self._sketch.quantile(q)
        if value is None:
            return self.max
        # The sketch's estimate can stray just outside the true range.
        return min(max(value, self.min), self.max)

    def summary(self) -> StatsSummary | None:
        """Return totals and percentiles, or ``None`` when nothing was recorded."""
        if self.count == 0:
            return None
        if self._samples is not None:
            ordered = sorted(self._samples)
            p50, p95, p99 = (inclusive_percentile(ordered, q) for q in PERCENTILES)
            exact = True
        else:
            p50, p95, p99 = (self._sketch_quantile(q) for q in PERCENTILES)
            exact = False
        return StatsSummary(
            count=self.count,
            total=self.total,
            min=self.min,
            max=self.max,
            mean=self.total / self.count,
            p50=p50,
            p95=p95,
            p99=p99,
            exact=exact,
        )
