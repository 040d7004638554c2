"""Check that a collector's memory stops growing while events keep arriving.

A fresh ``Collector`` with the default settings receives batches of
operation events spread over 100 names, and tracemalloc's traced size is
read (after a full garbage collection) before the first batch and after
each one. The first batch pays for everything the collector holds once: an
entry per name, the recent-events buffer filled to its bound. A collector
whose memory is bounded then grows by almost nothing per batch; one that
keeps every sample grows by as much again.

Events per name per batch are 2,000, just under the default exact-percentile
limit (2,048), so the second batch is where each name's exact samples give
way to a sketch: a one-off change of representation, which for a metric
spread over six decades costs more than the 16 KB of samples it replaces.
The second batch is therefore reported but not judged; the third shows the
steady state. Target: the third batch grows by under 10% of the first.

Durations cycle through a fixed log-uniform range from 10 µs to 10 s, so the
sketches fill the bins a real latency metric would. Everything the loop
allocates for itself is freed or made before the first reading.
"""

from __future__ import annotations

import gc
import itertools
import random
import threading
import time
import tracemalloc

from perfprobe.collector import Collector
from perfprobe.events import OperationEvent

from .harness import Row, format_bytes

TARGET_FRACTION = 0.10
_NAMES = 100
_BATCH = 200_000


def _durations(count: int) -> list[float]:
    rng = random.Random(20240601)
    return [10 ** rng.uniform(-5.0, 1.0) for _ in range(count)]


def _record(collector: Collector, names: list[str], durations: list[float]) -> None:
    thread = threading.current_thread()
    thread_id = thread.ident or 0
    started_at = time.time()
    for index in range(_BATCH):
        collector.record_operation(
            OperationEvent(
                name=names[index % len(names)],
                duration_s=durations[index % len(durations)],
                started_at=started_at,
                thread_id=thread_id,
                thread_name=thread.name,
                scope=None,
            ),
            None,
        )


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def run(quick: bool) -> list[Row]:
    """Return one row comparing later batches' growth with the first's."""
    # Quick runs keep the full batch size: with fewer events per name the
    # second batch would not reach the sketch and would look linear.
    del quick
    names = [f"bench.operation.{i}" for i in range(_NAMES)]
    durations = _durations(4_099)

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = _traced()
        collector = Collector()
        readings = [before]
        for _ in range(3):
            _record(collector, names, durations)
            readings.append(_traced())
    finally:
        if not was_tracing:
            tracemalloc.stop()

    first, second, third = (b - a for a, b in itertools.pairwise(readings))
    return [
        Row(
            benchmark="collector memory",
            baseline=f"batch 1 {format_bytes(first)}",
            measured=f"batch 3 {format_bytes(third)}",
            ratio=f"{third / first * 100:.1f}%",
            detail=f"batch 2 (to sketches) {format_bytes(second)}",
            target=f"batch 3 < {TARGET_FRACTION:.0%} of batch 1",
            passed=third < TARGET_FRACTION * first,
        )
    ]
