"""Measure a collector's memory over 1,000,000 measurements of 1,000 names.

Measurements go straight into ``Collector.record_operation`` (round-robin
over the names, durations spread over six decades so that every sketch
grows to its widest), not through
``measure_execution_time``, whose durations would all be microseconds.
tracemalloc's traced size, after a full garbage collection, is read before
the collector is made, at the end of the warm-up and after every 250,000
measurements that follow it.

Warm-up: until every kept name has passed the default exact-percentile
limit (2,048 samples per name), a name keeps each sample exactly, 8 bytes
each, so memory grows by design up to that bound. The warm-up gives each
of the first ``MAX_METRICS`` names (the ones kept; later names share one
"(other)" metric) 2,049 measurements, round-robin, and the other names
as many between them, so that "(other)" passes the limit too. This
benchmark used to read the growth inside that phase, after 500,000 and
1,000,000 measurements, when every name still had under 1,000 samples:
it measured the bounded exact phase, not the steady state.

Staggered end of warm-up: past the limit, a name's sketch holds up to
``VALUE_BATCH`` values and the bins of about two batches before it puts
them into the DDSketch (``perfprobe.sketch``), a few KB per name that
fill and empty every ~128 measurements. Round-robin keeps all 500 sketches
in step, so a reading taken at the switch (every buffer just emptied)
and one taken 250 measurements per name later (most buffers nearly full)
differ by the whole bound, about 2.9 MiB, though nothing grows. Name i
of the kept names therefore gets ``i * STAGGER // 500`` more measurements
at the end of the warm-up: the names sit at every point of that cycle, as
under real traffic, and every later reading holds the cycle's average.
Targets: at most 20 MB held at the end, and flat after warm-up: the
1,000,000 measurements after it add at most 10% of what the warm-up left
held. Quick and full runs are the same size: fewer measurements would not
answer the question asked.
"""

from __future__ import annotations

import gc
import random
import threading
import time
import tracemalloc

from perfprobe.collector import Collector
from perfprobe.events import OperationEvent
from perfprobe.sketch import VALUE_BATCH

from .harness import Row, format_bytes

TARGET_BYTES = 20 * 1024 * 1024
TARGET_FLAT_FRACTION = 0.10
NAMES = 1_000
TOTAL = 1_000_000
STEP = 250_000
#: Measurements over which a sketch's batch buffers fill and empty once:
#: two batches of values, whose bins (about 60 each over six decades) pass
#: ``PENDING_BINS`` together.
STAGGER = 2 * VALUE_BATCH


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _record(
    collector: Collector,
    events: list[OperationEvent],
    durations: list[float],
    start: int,
    count: int = STEP,
) -> None:
    """Record ``count`` measurements, round-robin over ``events``' names.

    One event per name, its duration set before each call: the collector
    has used the duration by the time the call returns, and the recent
    events it keeps (the last 1,000) are as many distinct objects as with
    an event per call, which would make this benchmark twice as slow.
    """
    record = collector.record_operation
    names = len(events)
    for index in range(start, start + count):
        event = events[index % names]
        event.duration_s = durations[index % len(durations)]
        record(event, None)


def _stagger(
    collector: Collector, events: list[OperationEvent], durations: list[float]
) -> int:
    """Give name ``i`` of ``events`` ``i * STAGGER // len(events)`` more samples.

    Return how many were recorded.
    """
    record = collector.record_operation
    recorded = 0
    for position, event in enumerate(events):
        for _ in range(position * STAGGER // len(events)):
            event.duration_s = durations[recorded % len(durations)]
            record(event, None)
            recorded += 1
    return recorded


def is_flat(readings: list[int]) -> tuple[float, bool]:
    """Return the growth after warm-up over the size warm-up left, and the verdict.

    ``readings`` are traced sizes before the collector, at the end of the
    warm-up, and after each further step; the last is the end of the run.
    """
    warm = readings[1] - readings[0]
    after = readings[-1] - readings[1]
    fraction = after / warm if warm > 0 else float("inf")
    return fraction, fraction <= TARGET_FLAT_FRACTION


def _event(name: str) -> OperationEvent:
    thread = threading.current_thread()
    return OperationEvent(
        name=name,
        duration_s=0.0,
        started_at=time.time(),
        thread_id=thread.ident or 0,
        thread_name=thread.name,
        scope=None,
    )


def run(quick: bool) -> list[Row]:
    """Return one row for the size held and one for its growth after warm-up."""
    del quick
    names = [f"bench.million.{i}" for i in range(NAMES)]
    rng = random.Random(20240602)
    durations = [10 ** rng.uniform(-5.0, 1.0) for _ in range(4_099)]

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    started_ns = time.perf_counter_ns()
    try:
        events = [_event(name) for name in names]
        readings = [_traced()]
        collector = Collector()
        # Only the first MAX_METRICS names are kept; later ones share one
        # "(other)" metric, which passes the limit in its first few thousand.
        conf = collector.settings
        kept = events[: conf.MAX_METRICS]
        warm_up = len(kept) * (conf.EXACT_PERCENTILE_LIMIT + 1)
        _record(collector, kept, durations, 0, warm_up)
        if len(events) > len(kept):
            rest = conf.EXACT_PERCENTILE_LIMIT + 1
            _record(collector, events[len(kept) :], durations, 0, rest)
            warm_up += rest
        warm_up += _stagger(collector, kept, durations)
        readings.append(_traced())
        for start in range(0, TOTAL, STEP):
            _record(collector, events, durations, start)
            readings.append(_traced())
    finally:
        if not was_tracing:
            tracemalloc.stop()
    elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9

    held = readings[-1] - readings[0]
    fraction, flat = is_flat(readings)
    steps = ", ".join(format_bytes(r - readings[0]) for r in readings[2:])
    count = sum(s.count for s, _ in collector.snapshot().operations.values())
    expected = warm_up + TOTAL
    return [
        Row(
            benchmark="collector: 1M over 1,000 names",
            baseline="empty collector",
            measured=f"{format_bytes(held)} held",
            ratio="",
            detail=(
                f"{count:,} counted ({warm_up:,} warm-up + {TOTAL:,}); "
                f"at 250k steps after warm-up: {steps}; {elapsed_s:.1f} s"
            ),
            target="≤ 20 MiB",
            passed=held <= TARGET_BYTES and count == expected,
        ),
        Row(
            benchmark="collector: growth after warm-up",
            baseline=f"warm-up {format_bytes(readings[1] - readings[0])}",
            measured=f"next 1M {format_bytes(readings[-1] - readings[1])}",
            ratio=f"{fraction * 100:.0f}%",
            detail="record_operation directly (not the timer)",
            target=f"≤ {TARGET_FLAT_FRACTION:.0%} of warm-up",
            passed=flat,
        ),
    ]
