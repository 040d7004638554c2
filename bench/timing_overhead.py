"""Measure what ``measure_execution_time`` adds to each timed block or call.

Four variants run interleaved: a trivial block (``sum(range(50))``) bare and
inside ``with monitor.measure_execution_time(...)``, and a plain function
doing the same work called directly and through the decorator. The overhead
is the paired difference of per-call medians (timer minus bare, decorated
minus plain), so the work itself cancels out.

The target is on that overhead in microseconds, not on the ratio: the ratio
only says how trivial the block is (the same overhead is 10x a tiny block and
0.1% of a real one), while the overhead is what every measurement costs a
user. 20 µs is several times what the probe costs on a quiet machine, so a
shared, busy one does not flip the result, yet a regression to a lock held
too long, a stack walk or a settings reread per call would show.

The monitor has its own fresh collector, warmed past the exact-percentile
limit, so the steady state (samples going into the sketch, the recent-events
buffer full) is what is measured.
"""

from __future__ import annotations

import time

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector

from .harness import (
    Row,
    format_ns,
    format_timing,
    interleave,
    paired_difference_ns,
    paired_ratio,
)

TARGET_OVERHEAD_NS = 20_000


def _work() -> int:
    return sum(range(50))


def run(quick: bool) -> list[Row]:
    """Return one row for the ``with`` form and one for the decorator."""
    monitor = PerformanceMonitor(Collector())
    clock = time.perf_counter_ns

    def bare(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            sum(range(50))
        return clock() - start

    def timed_block(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            with monitor.measure_execution_time("bench.block"):
                sum(range(50))
        return clock() - start

    decorated_work = monitor.measure_execution_time("bench.decorated")(_work)

    def plain_call(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            _work()
        return clock() - start

    def decorated_call(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            decorated_work()
        return clock() - start

    limit = monitor.collector.settings.EXACT_PERCENTILE_LIMIT
    timed_block(limit + 1)
    decorated_call(limit + 1)

    timings = interleave(
        [
            ("bare", bare),
            ("block", timed_block),
            ("plain", plain_call),
            ("decorated", decorated_call),
        ],
        ops=1_000 if quick else 2_000,
        rounds=9 if quick else 25,
    )

    rows = []
    for label, probed, base in (
        ("timer: with block", "block", "bare"),
        ("timer: decorator", "decorated", "plain"),
    ):
        overhead_ns = paired_difference_ns(timings[probed], timings[base])
        rows.append(
            Row(
                benchmark=label,
                baseline=f"{base} {format_timing(timings[base])}",
                measured=format_timing(timings[probed]),
                ratio=f"{paired_ratio(timings[probed], timings[base]):.1f}x",
                detail=f"+{format_ns(overhead_ns)}/call",
                target=f"overhead < {format_ns(TARGET_OVERHEAD_NS)}",
                passed=overhead_ns < TARGET_OVERHEAD_NS,
            )
        )
    return rows
