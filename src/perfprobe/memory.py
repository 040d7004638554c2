"""Take memory checkpoints and measure blocks: process RSS and the Python heap."""

from __future__ import annotations

import logging
import os
import threading
import time
import tracemalloc
from types import TracebackType
from typing import TYPE_CHECKING

import psutil

from .events import MemoryRecord, error_type_name
from .failures import log_failure
from .scope import current_task_ref, get_current_scope

if TYPE_CHECKING:
    from .collector import Collector
    from .monitoring import PerformanceMonitor

logger = logging.getLogger("perfprobe.memory")


class _OpenBlock:
    __slots__ = ("record", "session")

    def __init__(self, record: MemoryRecord) -> None:
        self.record = record
        self.session = 0


class HeapPeakTracker:
    """Give every open block its own tracemalloc peak, however blocks nest.

    tracemalloc keeps one process-wide peak. Whenever a block opens or
    closes, the peak so far is credited to every open block and then reset,
    so an inner block sees only its own peak while the outer block's peak
    still includes the inner one. tracemalloc is started when the first block
    opens if it was not tracing, and stopped again when the last block closes
    only if this tracker started it and nobody stopped it in between.
    """

    def __init__(self) -> None:
        # Re-entrant: any allocation below may run a finaliser that opens or
        # closes a block in this very thread. The methods tolerate that: the
        # open list is only changed in place by identity, a block's entry is
        # allocated before tracing is checked and listed with no allocation
        # in between, and whether to stop tracing is decided last.
        self._lock = threading.RLock()
        self._open: list[_OpenBlock] = []
        self._started_tracing = False
        # Bumped whenever tracing is found off, so that a block opened in an
        # earlier tracing session is not given figures from a later one.
        self._session = 0

    def _harvest(self) -> int:
        current, peak = tracemalloc.get_traced_memory()
        for entry in self._open:
            block = entry.record
            if block.heap_peak_bytes is None or block.heap_peak_bytes < peak:
                block.heap_peak_bytes = peak
        tracemalloc.reset_peak()
        return current

    def _session_of(self, record: MemoryRecord) -> int | None:
        for entry in self._open:
            if entry.record is record:
                return entry.session
        return None

    def _forget(self, record: MemoryRecord) -> None:
        for index, entry in enumerate(self._open):
            if entry.record is record:
                del self._open[index]
                return

    def open(self, record: MemoryRecord) -> None:
        """Start tracing if needed and begin tracking ``record``'s peak."""
        with self._lock:
            entry = _OpenBlock(record)
            if not tracemalloc.is_tracing():
                self._session += 1
                tracemalloc.start()
                self._started_tracing = True
            entry.session = self._session
            self._open.append(entry)
            current = self._harvest()
            record.heap_start_bytes = current
            record.heap_peak_bytes = current

    def close(self, record: MemoryRecord) -> None:
        """Finish ``record`` (removed by identity) with its end figure and peak.

        Its heap figures become ``None`` when tracing stopped during it.
        """
        with self._lock:
            try:
                if not tracemalloc.is_tracing():
                    # Someone else stopped it: if tracing starts again, it is
                    # theirs, and this tracker must never stop it.
                    self._started_tracing = False
                    _clear_heap(record)
                    return
                current = self._harvest()
                if self._session_of(record) == self._session:
                    record.heap_current_bytes = current
                else:
                    _clear_heap(record)
            finally:
                # Removed only now, so that a block closed by a finaliser
                # during the harvest does not find the list empty and stop
                # tracing under this one.
                self._forget(record)
                if not self._open and self._started_tracing:
                    self._started_tracing = False
                    tracemalloc.stop()

    def discard(self, record: MemoryRecord) -> None:
        """Stop tracking ``record`` without figures, as if it never opened."""
        with self._lock:
            self._forget(record)
            if not self._open and self._started_tracing:
                self._started_tracing = False
                tracemalloc.stop()


_heap_peaks = HeapPeakTracker()
_process: tuple[int, psutil.Process] | None = None


def _current_process() -> psutil.Process:
    global _process
    pid = os.getpid()
    cached = _process
    # A forked child inherits the parent's handle, which would report the
    # parent's RSS; one tuple assignment keeps pid and handle consistent
    # for concurrent readers.
    if cached is None or cached[0] != pid:
        cached = _process = (pid, psutil.Process(pid))
    return cached[1]


# Linux: /proc/self/statm kept open and re-read from offset 0, one pread()
# per checkpoint; psutil opens, reads and closes the same file through
# several Python layers, which costs about eight times as much. Its second
# field is the resident set in pages, which is how psutil computes rss too.
# (pid, fd), reopened in a forked child: the inherited descriptor still
# reads the parent's file. None where /proc cannot be read: psutil then.
_statm: tuple[int, int] | None = None
_statm_lock = threading.Lock()
_statm_usable = os.path.exists("/proc/self/statm")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _statm_fd() -> int:
    global _statm
    pid = os.getpid()
    cached = _statm
    if cached is None or cached[0] != pid:
        # The parent's descriptor is left open, not closed: another thread
        # of the child may still be reading through it, and a closed number
        # can be reused at once for an unrelated file.
        with _statm_lock:
            cached = _statm
            if cached is None or cached[0] != pid:
                # O_CLOEXEC: a program the application execs must not get it.
                flags = os.O_RDONLY | os.O_CLOEXEC
                cached = _statm = (pid, os.open("/proc/self/statm", flags))
    return cached[1]


def read_rss_bytes() -> int:
    """Return this process's resident set size in bytes."""
    global _statm_usable
    if _statm_usable:
        try:
            return int(os.pread(_statm_fd(), 128, 0).split()[1]) * _PAGE_BYTES
        except (OSError, ValueError, IndexError):
            # A /proc that cannot be read (a sandbox) is not retried.
            _statm_usable = False
    return int(_current_process().memory_info().rss)


def _clear_heap(record: MemoryRecord) -> None:
    record.heap_current_bytes = None
    record.heap_peak_bytes = None
    record.heap_start_bytes = None


def _heap_now() -> tuple[int | None, int | None]:
    if not tracemalloc.is_tracing():
        return None, None
    current, peak = tracemalloc.get_traced_memory()
    return current, peak


class MemoryProbe:
    """A checkpoint taken on creation that becomes a block when entered.

    ``monitor.track_memory_usage("x")`` records a checkpoint at once. Used as
    ``with monitor.track_memory_usage("x"):``, the same record turns into a
    block: RSS and heap at the start and end, their deltas, and the heap peak
    reached inside the block.

    Raise ``TypeError`` when ``label`` is not a ``str``: a label of another
    type would be kept and later break every report that holds it; and
    ``ValueError`` when it is empty, which the report's tables and findings
    would show as nothing.
    """

    def __init__(self, monitor: PerformanceMonitor, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(
                f"track_memory_usage() needs a str label, not {type(label).__name__}"
            )
        if not label:
            raise ValueError("track_memory_usage() needs a non-empty label, not ''")
        self._monitor = monitor
        self.label = label
        self.record: MemoryRecord | None = None
        self._start_ns = 0
        #: The collector the block opened in, which closes it: the monitor's
        #: may be replaced while the block is open.
        self._collector: Collector | None = None
        try:
            self.record = self._checkpoint()
        except Exception:
            log_failure(
                logger,
                "checkpoint",
                "perfprobe failed to take memory checkpoint %r",
                label,
            )

    def _checkpoint(self) -> MemoryRecord | None:
        # Off (TRACK_MEMORY, ENABLED, an unmonitored request), there is no
        # record, so the block does nothing and never starts tracemalloc.
        if not self._monitor.memory_active():
            return None
        current, peak = _heap_now()
        scope = get_current_scope()
        thread = threading.current_thread()
        record = MemoryRecord(
            label=self.label,
            kind="checkpoint",
            started_at=time.time(),
            thread_id=thread.ident or 0,
            thread_name=thread.name,
            scope=scope.path if scope else None,
            rss_bytes=read_rss_bytes(),
            heap_current_bytes=current,
            heap_peak_bytes=peak,
        )
        self._monitor.collector.record_memory(record)
        return record

    def __enter__(self) -> MemoryProbe:
        try:
            self._open_block()
        except Exception:
            log_failure(
                logger,
                "block-open",
                "perfprobe failed to open memory block %r",
                self.label,
            )
            self.record = None
        return self

    def _open_block(self) -> None:
        if self.record is None:
            return
        # The checkpoint just taken is this block's start; keep it as one
        # record rather than leaving a separate checkpoint behind. RSS is
        # read first: if it fails, nothing has been registered yet.
        record = self.record
        rss_start_bytes = read_rss_bytes()
        record.kind = "block"
        record.rss_start_bytes = rss_start_bytes
        record.task = current_task_ref()
        collector = self._monitor.collector
        try:
            collector.memory_block_opened(record)
            _heap_peaks.open(record)
        except BaseException:
            # Half a registration would leave tracemalloc on for good.
            _heap_peaks.discard(record)
            collector.memory_block_abandoned(record)
            raise
        self._collector = collector
        self._start_ns = time.perf_counter_ns()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._close_block(exc_type)
        except Exception:
            log_failure(
                logger,
                "block-close",
                "perfprobe failed to close memory block %r",
                self.label,
            )

    def _close_block(self, exc_type: type[BaseException] | None) -> None:
        record = self.record
        if record is None or record.kind != "block":
            return
        record.duration_s = (time.perf_counter_ns() - self._start_ns) / 1e9
        record.error_type = error_type_name(exc_type)
        # However the figures fail, the block must leave the tracker (or
        # tracemalloc stays on) and the collector it opened in (or it stays
        # open there, for good if that collector is put back).
        collector = self._collector or self._monitor.collector
        try:
            _heap_peaks.close(record)
            self._fill_end_figures(record)
        finally:
            try:
                collector.memory_block_closed(record)
            except BaseException:
                # Left open, the block would send every later query in the
                # process down the eager path and mark other threads' blocks
                # process-wide, for good (forgetting twice is harmless).
                collector.memory_block_abandoned(record)
                raise
        self._monitor._warn_if_high_memory(record)

    def _fill_end_figures(self, record: MemoryRecord) -> None:
        try:
            rss_bytes: int | None = read_rss_bytes()
        except Exception:
            log_failure(
                logger, "rss", "perfprobe failed to read RSS for block %r", self.label
            )
            rss_bytes = None
        if rss_bytes is not None:
            record.rss_bytes = rss_bytes
            record.rss_delta_bytes = rss_bytes - (record.rss_start_bytes or 0)
        if (
            record.heap_current_bytes is not None
            and record.heap_start_bytes is not None
        ):
            record.heap_delta_bytes = (
                record.heap_current_bytes - record.heap_start_bytes
            )
            record.peak_above_start_bytes = (
                record.heap_peak_bytes or 0
            ) - record.heap_start_bytes
