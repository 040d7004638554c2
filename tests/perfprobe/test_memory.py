"""Tests for perfprobe.memory: checkpoints, blocks, nested peaks, attribution."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import tracemalloc
import warnings
from collections.abc import Iterator

import psutil
import pytest
from django.test import override_settings

from perfprobe import PerformanceMonitor, memory
from perfprobe.collector import Collector
from perfprobe.events import MemoryRecord

from .finalisers import SelfReferencing, gc_paused
from .test_collector import run_bounded

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


def test_a_timer_left_running_by_a_finished_thread_shares_no_later_block(
    mon: PerformanceMonitor,
) -> None:
    """A thread enters a timer by hand and ends: later blocks stay its own.

    The dead thread's log still counted the timer as running, so every
    block opened afterwards read as process-wide, for the process's life.
    """

    def leave_a_timer_running() -> None:
        mon.measure_execution_time("never-exited").__enter__()

    thread = threading.Thread(target=leave_a_timer_running)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()

    with mon.track_memory_usage("after") as probe:
        pass

    assert probe.record is not None
    assert probe.record.process_wide is False


def test_exception_in_block_passes_and_is_recorded(mon: PerformanceMonitor) -> None:
    """An exception leaves the block unchanged and the block notes its type."""
    raised = MemoryError("pretend")
    with pytest.raises(MemoryError) as info:
        with mon.track_memory_usage("failing") as probe:
            raise raised
    assert info.value is raised
    assert probe.record is not None and probe.record.error_type == "MemoryError"
    assert not tracemalloc.is_tracing()


def test_overlapping_blocks_of_two_threads_are_both_process_wide(
    mon: PerformanceMonitor,
) -> None:
    """Another thread's open block is monitored work: both blocks say process-wide."""
    inside, done = threading.Event(), threading.Event()
    records = {}

    def quiet() -> None:
        with mon.track_memory_usage("quiet") as probe:
            inside.set()
            done.wait(5)
        records["quiet"] = probe.record

    def heavy() -> None:
        inside.wait(5)
        with mon.track_memory_usage("heavy") as probe:
            buffer = bytearray(5 * MB)
            del buffer
        done.set()
        records["heavy"] = probe.record

    threads = [threading.Thread(target=quiet), threading.Thread(target=heavy)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with mon.track_memory_usage("alone-afterwards") as alone:
        pass

    assert {label: r and r.process_wide for label, r in records.items()} == {
        "quiet": True,
        "heavy": True,
    }
    # Both blocks gave their thread's count back when they closed.
    assert alone.record is not None and alone.record.process_wide is False


def test_overlapping_blocks_of_two_tasks_in_one_thread_are_both_process_wide(
    mon: PerformanceMonitor,
) -> None:
    """Two asyncio tasks share one thread's heap: their interleaved blocks say so.

    Two async requests served at once on one event loop: the second block
    opens while the first holds 5 MB, which the first then frees and closes,
    so the second block's heap fell by 5 MB it never allocated. Its figures
    were given as the block's own (``"this block"``).
    """
    records = {}

    async def first(opened: asyncio.Event, closing: asyncio.Event) -> None:
        with mon.track_memory_usage("first") as probe:
            buffer = bytearray(5 * MB)
            opened.set()
            await closing.wait()
            del buffer
        records["first"] = probe.record

    async def second(opened: asyncio.Event, closing: asyncio.Event) -> None:
        await opened.wait()
        with mon.track_memory_usage("second") as probe:
            closing.set()
            await asyncio.sleep(0.01)
        records["second"] = probe.record

    async def serve_both() -> None:
        opened, closing = asyncio.Event(), asyncio.Event()
        await asyncio.gather(first(opened, closing), second(opened, closing))

    asyncio.run(serve_both())

    second_record = records["second"]
    assert second_record is not None and second_record.heap_delta_bytes is not None
    assert second_record.heap_delta_bytes < -4 * MB  # the first block's buffer
    assert {label: r and r.process_wide for label, r in records.items()} == {
        "first": True,
        "second": True,
    }
    assert second_record.to_dict()["attribution"].startswith("process-wide")


def test_blocks_nested_in_one_task_stay_their_own(mon: PerformanceMonitor) -> None:
    """A block nested in another of the same task is part of its work, not shared."""

    async def nested() -> list[MemoryRecord | None]:
        with mon.track_memory_usage("outer") as outer:
            await asyncio.sleep(0)
            with mon.track_memory_usage("inner") as inner:
                await asyncio.sleep(0)
        return [outer.record, inner.record]

    records = asyncio.run(nested())

    assert [r and r.process_wide for r in records] == [False, False]


def test_block_closed_after_the_collector_was_replaced(
    mon: PerformanceMonitor,
) -> None:
    """The block is kept by the collector it opened in, and leaves it closed.

    A test swapping in a collector of its own while a block was open, then
    putting the first one back, left that block open there for good: it
    was recorded nowhere, and every later block of another thread was
    marked process-wide.
    """
    first = mon.collector
    with mon.track_memory_usage("across-the-swap"):
        kept = bytearray(2 * MB)
        mon.collector = Collector()
    mon.collector = first
    records = {}

    def alone() -> None:
        with mon.track_memory_usage("alone") as probe:
            pass
        records["alone"] = probe.record

    thread = threading.Thread(target=alone)
    thread.start()
    thread.join()

    assert records["alone"] is not None and records["alone"].process_wide is False
    blocks = {r.label: r for r in first.snapshot().memory}
    assert blocks["across-the-swap"].heap_delta_bytes is not None
    assert blocks["across-the-swap"].heap_delta_bytes >= 2 * MB
    del kept


def test_block_finalised_while_the_heap_tracker_is_busy(
    mon: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block closed by a finaliser inside the tracker's lock closes; tracing stays."""

    def abandoned() -> Iterator[None]:
        with mon.track_memory_usage("abandoned"):
            yield

    original_reset_peak = tracemalloc.reset_peak
    pending = [True]

    def reset_peak_after_collecting() -> None:
        if pending:
            pending.clear()
            gc.collect()
        original_reset_peak()

    def work() -> None:
        SelfReferencing(abandoned())
        # Patched only now: the abandoned block has already opened.
        monkeypatch.setattr(tracemalloc, "reset_peak", reset_peak_after_collecting)
        with mon.track_memory_usage("outer") as outer:
            kept = bytearray(4 * MB)
        assert outer.record is not None
        assert outer.record.heap_delta_bytes is not None
        assert 4 * MB <= outer.record.heap_delta_bytes < 5 * MB
        del kept

    with gc_paused():
        run_bounded(work)

    records = mon.collector.snapshot().memory
    assert [(r.label, r.kind) for r in records] == [
        ("abandoned", "block"),
        ("outer", "block"),
    ]
    assert not tracemalloc.is_tracing()


def flaky_rss(monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    """Make the ``failing_call``-th RSS read raise, and the others return 50 MB."""
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        if len(calls) == failing_call:
            raise PermissionError("psutil.AccessDenied")
        return 50 * MB

    monkeypatch.setattr(memory, "read_rss_bytes", read)


def test_rss_failure_as_a_block_opens_leaves_nothing_open(
    mon: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If RSS cannot be read on entry, only the checkpoint stays and tracing is off."""
    flaky_rss(monkeypatch, failing_call=2)

    with mon.track_memory_usage("flaky") as probe:
        assert not tracemalloc.is_tracing()

    assert probe.record is None
    assert [(r.label, r.kind) for r in mon.collector.snapshot().memory] == [
        ("flaky", "checkpoint")
    ]
    with mon.track_memory_usage("next") as later:
        pass
    assert later.record is not None and later.record.process_wide is False
    assert not tracemalloc.is_tracing()


def test_rss_failure_as_a_block_closes_still_closes_it(
    mon: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If RSS cannot be read on exit, the block is kept with its heap figures."""
    flaky_rss(monkeypatch, failing_call=3)

    with mon.track_memory_usage("flaky") as probe:
        kept = bytearray(10 * MB)

    record = probe.record
    assert record is not None and record.open is False
    assert record.rss_delta_bytes is None
    assert record.heap_delta_bytes is not None
    assert 10 * MB <= record.heap_delta_bytes < 11 * MB
    assert [r.label for r in mon.collector.snapshot().memory] == ["flaky"]
    assert not tracemalloc.is_tracing()
    assert "failed to read RSS" in caplog.text
    del kept


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_rss_in_a_forked_child_is_the_childs(mon: PerformanceMonitor) -> None:
    """A child that freed the parent's 128 MB buffer reads its own, smaller RSS."""
    buffer = bytearray(128 * MB)
    memory.read_rss_bytes()  # the parent's figure is read before the fork
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that has threads.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            del buffer
            monitored = memory.read_rss_bytes()
            true = psutil.Process(os.getpid()).memory_info().rss
            os.write(write_end, f"{monitored} {true}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        reply = pipe.read()
    os.waitpid(pid, 0)
    del buffer

    monitored, true = (int(figure) for figure in reply.split())
    assert abs(monitored - true) < 32 * MB


def test_tracing_stopped_by_the_user_is_never_stopped_by_the_monitor(
    mon: PerformanceMonitor,
) -> None:
    """After the user stops tracing mid-block, their own later tracing is left on."""
    with mon.track_memory_usage("interrupted") as probe:
        tracemalloc.stop()
    assert probe.record is not None and probe.record.heap_delta_bytes is None

    tracemalloc.start()
    try:
        with mon.track_memory_usage("later"):
            pass
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_block_outliving_its_tracing_session_has_no_heap_figures(
    mon: PerformanceMonitor,
) -> None:
    """A block whose tracing was stopped and restarted inside it reports no heap."""
    with mon.track_memory_usage("outer") as outer:
        tracemalloc.stop()
        with mon.track_memory_usage("inner") as inner:
            kept = bytearray(5 * MB)

    assert inner.record is not None and inner.record.heap_delta_bytes is not None
    assert 5 * MB <= inner.record.heap_delta_bytes < 6 * MB
    assert outer.record is not None
    assert (outer.record.heap_delta_bytes, outer.record.heap_start_bytes) == (
        None,
        None,
    )
    assert not tracemalloc.is_tracing()
    del kept


# -- TRACK_MEMORY --------------------------------------------------------------------


def test_memory_off_records_nothing_and_never_starts_tracemalloc(
    mon: PerformanceMonitor,
) -> None:
    """With TRACK_MEMORY off a checkpoint and a block keep nothing; no tracing."""
    assert not tracemalloc.is_tracing()
    with override_settings(PERFPROBE={"TRACK_MEMORY": False}):
        mon.track_memory_usage("checkpoint")
        with mon.track_memory_usage("block"):
            assert not tracemalloc.is_tracing()
            data = [bytes(1000) for _ in range(100)]
    assert len(data) == 100
    assert not tracemalloc.is_tracing()
    assert mon.collector.snapshot().memory == []
    assert mon.collector.snapshot().recent_events == []


def test_memory_off_lets_a_block_exception_through(mon: PerformanceMonitor) -> None:
    """The block's own exception passes unchanged while memory tracking is off."""
    error = ValueError("user bug")
    with override_settings(PERFPROBE={"TRACK_MEMORY": False}):
        with pytest.raises(ValueError) as raised, mon.track_memory_usage("block"):
            raise error
    assert raised.value is error


def test_rss_matches_psutil_after_a_known_allocation() -> None:
    """The RSS read grows with a touched 64 MB buffer, as psutil's figure does."""
    before = memory.read_rss_bytes()
    buffer = bytearray(64 * MB)  # zero-filled, so every page is touched
    after = memory.read_rss_bytes()
    true = psutil.Process(os.getpid()).memory_info().rss
    del buffer

    assert after - before >= 60 * MB
    assert after == pytest.approx(true, rel=0.05)


def test_rss_falls_back_to_psutil_when_proc_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failing /proc read is not retried: psutil gives the figure instead."""

    def broken(*args: object) -> bytes:
        raise OSError("no /proc here")

    monkeypatch.setattr(memory, "_statm_usable", True)
    monkeypatch.setattr(memory.os, "pread", broken)
    rss = memory.read_rss_bytes()

    assert rss == pytest.approx(psutil.Process(os.getpid()).memory_info().rss, rel=0.05)
    assert memory._statm_usable is False


def test_high_memory_warning_under_a_megabyte_names_the_threshold(
    mon: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0.25 MB limit reads as 256.0 KB, not "0 MB"; the 2 MB peak as MB."""
    with (
        override_settings(PERFPROBE={"HIGH_MEMORY_MB": 0.25}),
        caplog.at_level("WARNING", logger="perfprobe"),
    ):
        with mon.track_memory_usage("small_limit"):
            kept = bytearray(2 * MB)
    (record,) = [r for r in caplog.records if "peaked" in r.getMessage()]
    message = record.getMessage()
    assert "(threshold 256.0 KB)" in message, message
    peak_mb = float(message.split(" peaked ")[1].split(" MB")[0])
    assert 2.0 <= peak_mb < 3.0, message
    del kept
