"""Count one endpoint's queries per request, exactly while the numbers are few."""

from __future__ import annotations

import math
from collections import Counter

from ddsketch import DDSketch

from .stats import PERCENTILES, SKETCH_RELATIVE_ACCURACY, StatsSummary


class QueryCountStats:
    """Queries per request of one endpoint, as a count per distinct number.

    The requests of one view run a handful of distinct numbers of queries,
    so the percentiles stay exact however many requests are counted, and
    counting a request is one dict increment (the request path does it
    inline for 0). Past ``max_values`` distinct numbers besides 0, further
    numbers go into a DDSketch and the percentiles become estimates, as in
    ``MetricStats``. Not thread-safe: the collector holds its lock.
    """

    __slots__ = ("_extra", "_extra_values", "counts", "max_values")

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        #: Requests by their number of queries; 0 is always counted here.
        self.counts: Counter[int] = Counter()
        self._extra: DDSketch | None = None
        self._extra_values: list[float] = []  # count, total, min, max

    def add(self, query_count: int) -> None:
        """Count one request that ran ``query_count`` queries."""
        counts = self.counts
        if query_count in counts or query_count == 0 or len(counts) <= self.max_values:
            counts[query_count] += 1
            return
        value = float(query_count)
        if self._extra is None:
            self._extra = DDSketch(relative_accuracy=SKETCH_RELATIVE_ACCURACY)
            self._extra_values = [0.0, 0.0, value, value]
        self._extra.add(value)
        extra = self._extra_values
        extra[0] += 1
        extra[1] += value
        extra[2] = min(extra[2], value)
        extra[3] = max(extra[3], value)

    def summary(self, without_queries: int = 0) -> StatsSummary | None:
        """Return totals and percentiles, or ``None`` when nothing was counted.

        ``without_queries`` more requests that ran no query are included.
        """
        counts = self.counts + Counter({0: without_queries})
        values = sorted((v, n) for v, n in counts.items() if n)
        count = sum(n for _, n in values)
        total = float(sum(v * n for v, n in values))
        bounds = [float(values[0][0]), float(values[-1][0])] if values else []
        if self._extra is not None:
            extra_count, extra_total, extra_min, extra_max = self._extra_values
            count += int(extra_count)
            total += extra_total
            bounds += [extra_min, extra_max]
        if count == 0:
            return None
        low, high = min(bounds), max(bounds)
        if self._extra is None:
            p50, p95, p99 = (_counted_percentile(values, count, q) for q in PERCENTILES)
        else:
            sketch = DDSketch(relative_accuracy=SKETCH_RELATIVE_ACCURACY)
            for value, n in values:
                sketch.add(float(value), n)
            sketch.merge(self._extra)
            p50, p95, p99 = (
                min(max(float(sketch.get_quantile_value(q) or high), low), high)
                for q in PERCENTILES
            )
        return StatsSummary(
            count=count,
            total=total,
            min=low,
            max=high,
            mean=total / count,
            p50=p50,
            p95=p95,
            p99=p99,
            exact=self._extra is None,
        )


def _counted_percentile(values: list[tuple[int, int]], count: int, q: float) -> float:
    """Return ``inclusive_percentile`` of the data ``values`` counts, in one pass."""
    rank = (count - 1) * q
    low = math.floor(rank)
    high = min(low + 1, count - 1)
    low_value = high_value = None
    seen = 0
    for value, n in values:
        seen += n
        if low_value is None and low < seen:
            low_value = float(value)
        if high < seen:
            high_value = float(value)
            break
    assert low_value is not None and high_value is not None
    return low_value + (high_value - low_value) * (rank - low)
