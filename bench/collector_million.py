"""Measure a collector's memory after 1,000,000 measurements over 1,000 names.

Measurements go straight into ``Collector.record_operation`` (one
``OperationEvent`` each, round-robin over the names), not through
``measure_execution_time``: the full timer would take about ten times as
long and keep the quick run far over its budget, while the memory held is
the collector's either way. tracemalloc's traced size, after a full garbage
collection, is read before the collector is made and after every 250,000
measurements.

Targets: at most 20 MB held after 1,000,000, and flat after warm-up: the
second 500,000 measurements add at most 10% of what the first 500,000 did.
With 1,000 names each name gets 1,000 measurements, under the default
exact-percentile limit (2,048 samples per name), so exact samples are still
being kept at 1,000,000; a collector that bounds only per name would keep
growing here, and this benchmark says so.

Quick and full runs are the same size: fewer measurements would not answer
the question asked.
"""

from __future__ import annotations

import gc
import random
import threading
import time
import tracemalloc

from perfprobe.collector import Collector
from perfprobe.events import OperationEvent

from .harness import Row, format_bytes

TARGET_BYTES = 20 * 1024 * 1024
TARGET_FLAT_FRACTION = 0.10
NAMES = 1_000
TOTAL = 1_000_000
STEP = 250_000


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _record(
    collector: Collector, names: list[str], durations: list[float], start: int
) -> None:
    thread = threading.current_thread()
    thread_id = thread.ident or 0
    thread_name = thread.name
    started_at = time.time()
    record = collector.record_operation
    for index in range(start, start + STEP):
        record(
            OperationEvent(
                name=names[index % NAMES],
                duration_s=durations[index % len(durations)],
                started_at=started_at,
                thread_id=thread_id,
                thread_name=thread_name,
                scope=None,
            ),
            None,
        )


def is_flat(readings: list[int]) -> tuple[float, bool]:
    """Return the second half's growth over the first half's, and the verdict.

    ``readings`` are traced sizes at 0, 1/4, 1/2, 3/4 and all of the run.
    """
    first = readings[2] - readings[0]
    second = readings[4] - readings[2]
    fraction = second / first if first > 0 else float("inf")
    return fraction, fraction <= TARGET_FLAT_FRACTION


def run(quick: bool) -> list[Row]:
    """Return one row for the size held and one for its growth."""
    del quick
    names = [f"bench.million.{i}" for i in range(NAMES)]
    rng = random.Random(20240602)
    durations = [10 ** rng.uniform(-5.0, 1.0) for _ in range(4_099)]

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    started_ns = time.perf_counter_ns()
    try:
        readings = [_traced()]
        collector = Collector()
        for start in range(0, TOTAL, STEP):
            _record(collector, names, durations, start)
            readings.append(_traced())
    finally:
        if not was_tracing:
            tracemalloc.stop()
    elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9

    held = readings[-1] - readings[0]
    fraction, flat = is_flat(readings)
    steps = ", ".join(format_bytes(r - readings[0]) for r in readings[1:])
    count = sum(s.count for s, _ in collector.snapshot().operations.values())
    return [
        Row(
            benchmark="collector: 1M over 1,000 names",
            baseline="empty collector",
            measured=f"{format_bytes(held)} held",
            ratio="",
            detail=f"{count:,} counted; at 250k steps: {steps}; {elapsed_s:.1f} s",
            target="≤ 20 MiB",
            passed=held <= TARGET_BYTES and count == TOTAL,
        ),
        Row(
            benchmark="collector: growth after warm-up",
            baseline=f"first 500k {format_bytes(readings[2] - readings[0])}",
            measured=f"second 500k {format_bytes(readings[4] - readings[2])}",
            ratio=f"{fraction * 100:.0f}%",
            detail="record_operation directly (not the timer)",
            target=f"second ≤ {TARGET_FLAT_FRACTION:.0%} of first",
            passed=flat,
        ),
    ]
