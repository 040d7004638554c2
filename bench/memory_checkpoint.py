"""Measure a ``track_memory_usage`` checkpoint, with tracemalloc off and on.

Three variants run interleaved: an empty loop body (the baseline), a
checkpoint ``monitor.track_memory_usage("bench.checkpoint")`` while
tracemalloc is off (the default: RSS only, one psutil read), and the same
checkpoint while tracemalloc is tracing (RSS plus the heap figures). The cost
of a checkpoint is its time minus the empty loop's in the same round.

tracemalloc costs more than its own reading: while it traces, every
allocation in the process is slower. That cost is measured separately, on a
loop that allocates (a list of 20 small dicts per operation), with tracing
off and on, and stated as a ratio. It is what a ``with track_memory_usage``
block imposes on the code inside it, and why checkpoints leave tracing off.

Target: an RSS-only checkpoint costs at most 15 µs.
"""

from __future__ import annotations

import time
import tracemalloc

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector

from .harness import Row, compare, format_ns, format_ratio, format_timing, interleave

TARGET_RSS_NS = 15_000


def _allocate() -> list[dict[str, int]]:
    return [{"index": i, "square": i * i} for i in range(20)]


def run(quick: bool) -> list[Row]:
    """Return rows for the two checkpoints and for tracemalloc's general cost."""
    monitor = PerformanceMonitor(Collector())
    clock = time.perf_counter_ns
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.stop()

    def empty(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            pass
        return clock() - start

    def rss_only(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            monitor.track_memory_usage("bench.checkpoint")
        return clock() - start

    def traced(ops: int) -> int:
        tracemalloc.start()
        try:
            start = clock()
            for _ in range(ops):
                monitor.track_memory_usage("bench.checkpoint")
            return clock() - start
        finally:
            tracemalloc.stop()

    def allocating(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            _allocate()
        return clock() - start

    def allocating_traced(ops: int) -> int:
        tracemalloc.start()
        try:
            start = clock()
            for _ in range(ops):
                _allocate()
            return clock() - start
        finally:
            tracemalloc.stop()

    try:
        timings = interleave(
            [
                ("empty", empty),
                ("rss", rss_only),
                ("traced", traced),
                ("alloc", allocating),
                ("alloc traced", allocating_traced),
            ],
            ops=200 if quick else 500,
            rounds=15 if quick else 41,
        )
    finally:
        if was_tracing:
            tracemalloc.start()

    records = monitor.collector.snapshot().memory
    heap_read = sum(1 for r in records if r.heap_current_bytes is not None)
    rss = compare(timings["rss"], timings["empty"])
    heap = compare(timings["traced"], timings["empty"])
    slowdown = compare(timings["alloc traced"], timings["alloc"])
    return [
        Row(
            benchmark="memory: RSS checkpoint",
            baseline=f"empty {format_timing(timings['empty'])}",
            measured=format_timing(timings["rss"]),
            ratio="",
            detail=f"+{format_ns(rss.difference_ns)}/checkpoint",
            target=f"≤ {format_ns(TARGET_RSS_NS)}",
            passed=rss.difference_ns <= TARGET_RSS_NS,
        ),
        Row(
            benchmark="memory: checkpoint, tracemalloc on",
            baseline=f"empty {format_timing(timings['empty'])}",
            measured=format_timing(timings["traced"]),
            ratio=format_ratio(compare(timings["traced"], timings["rss"])) + " RSS",
            detail=(
                f"+{format_ns(heap.difference_ns)}/checkpoint; "
                f"{heap_read:,} of {len(records):,} kept records have heap figures"
            ),
            target="stated",
            passed=None,
        ),
        Row(
            benchmark="memory: tracemalloc on allocating code",
            baseline=f"off {format_timing(timings['alloc'])}",
            measured=f"on {format_timing(timings['alloc traced'])}",
            ratio=format_ratio(slowdown),
            detail=f"+{format_ns(slowdown.difference_ns)} per 21 allocations",
            target="stated",
            passed=None,
        ),
    ]
