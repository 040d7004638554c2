"""Tests for perfprobe.memory: checkpoints, blocks, nested peaks, attribution."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector

MB = 1024 * 1024


@pytest.fixture
def mon() -> PerformanceMonitor:
    """Return a monitor with its own collector, with tracemalloc off."""
    assert not tracemalloc.is_tracing(), "a previous test left tracemalloc on"
    return PerformanceMonitor(Collector())


def test_block_reports_known_allocation(mon: PerformanceMonitor) -> None:
    """A 20 MB buffer kept past the block shows as ~20 MB delta and peak."""
    with mon.track_memory_usage("alloc") as probe:
        kept = bytearray(20 * MB)
    record = probe.record
    assert record is not None and record.kind == "block"
    assert record.heap_delta_bytes is not None
    assert 20 * MB <= record.heap_delta_bytes < 21 * MB
    assert record.peak_above_start_bytes is not None
    assert 20 * MB <= record.peak_above_start_bytes < 21 * MB
    assert record.process_wide is False
    del kept


def test_freed_allocation_has_peak_but_no_delta(mon: PerformanceMonitor) -> None:
    """A 30 MB buffer freed inside the block is in the peak, not the delta."""
    with mon.track_memory_usage("transient") as probe:
        buffer = bytearray(30 * MB)
        del buffer
    record = probe.record
    assert record is not None
    assert record.peak_above_start_bytes is not None
    assert 30 * MB <= record.peak_above_start_bytes < 31 * MB
    assert record.heap_delta_bytes is not None
    assert abs(record.heap_delta_bytes) < 1 * MB


def test_nested_blocks_keep_both_peaks(mon: PerformanceMonitor) -> None:
    """Outer peak includes the inner 10 MB; inner peak is only its own 10 MB."""
    with mon.track_memory_usage("outer") as outer:
        first = bytearray(5 * MB)
        with mon.track_memory_usage("inner") as inner:
            second = bytearray(10 * MB)
            del second
        del first
    assert inner.record is not None and outer.record is not None
    inner_peak = inner.record.peak_above_start_bytes
    outer_peak = outer.record.peak_above_start_bytes
    assert inner_peak is not None and outer_peak is not None
    assert 10 * MB <= inner_peak < 11 * MB
    assert 15 * MB <= outer_peak < 16 * MB


def test_tracemalloc_stopped_only_if_monitor_started_it(
    mon: PerformanceMonitor,
) -> None:
    """The monitor stops tracing it started, and leaves a user's tracing on."""
    with mon.track_memory_usage("ours"):
        assert tracemalloc.is_tracing()
    assert not tracemalloc.is_tracing()

    tracemalloc.start()
    try:
        with mon.track_memory_usage("theirs"):
            pass
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_checkpoint_records_rss_and_no_heap_when_not_tracing(
    mon: PerformanceMonitor,
) -> None:
    """A plain checkpoint records RSS; heap is None when tracemalloc is off."""
    probe = mon.track_memory_usage("cp")
    record = probe.record
    assert record is not None and record.kind == "checkpoint"
    assert record.rss_bytes > 1 * MB
    assert record.heap_current_bytes is None
    (stored,) = mon.collector.snapshot().memory
    assert stored is record


def test_block_is_one_record_not_checkpoint_plus_block(
    mon: PerformanceMonitor,
) -> None:
    """Entering the probe turns its checkpoint into the block's start."""
    with mon.track_memory_usage("only-one"):
        pass
    records = mon.collector.snapshot().memory
    assert [(r.label, r.kind) for r in records] == [("only-one", "block")]


def test_other_threads_make_block_process_wide(mon: PerformanceMonitor) -> None:
    """A block during which another thread ran monitored work says process-wide."""
    started, finish = threading.Event(), threading.Event()

    def other() -> None:
        with mon.measure_execution_time("elsewhere"):
            started.set()
            finish.wait(5)

    with mon.track_memory_usage("shared") as probe:
        thread = threading.Thread(target=other)
        thread.start()
        started.wait(5)
        finish.set()
        thread.join()
    assert probe.record is not None
    assert probe.record.process_wide is True
    assert probe.record.to_dict()["attribution"].startswith("process-wide")


def test_exception_in_block_passes_and_is_recorded(mon: PerformanceMonitor) -> None:
    """An exception leaves the block unchanged and the block notes its type."""
    raised = MemoryError("pretend")
    with pytest.raises(MemoryError) as info:
        with mon.track_memory_usage("failing") as probe:
            raise raised
    assert info.value is raised
    assert probe.record is not None and probe.record.error_type == "MemoryError"
    assert not tracemalloc.is_tracing()
