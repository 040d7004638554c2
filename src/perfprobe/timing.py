"""Time a block or a function call: ``measure_execution_time`` in both forms."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from . import conf as _conf_module
from . import tracing
from .conf import get_settings
from .failures import log_failure
from .scope import current_scope
from .suppression import current_mark
from .threadlog import BATCH_SIZE, ThreadLog
from .timerends import bad_name, exit_unusual, record_now
from .timerstarts import _OFF, Starts, _Off, _Start, _task_key, push
from .wrapping import wrap

if TYPE_CHECKING:
    from .collector import Collector
    from .monitoring import PerformanceMonitor

logger = logging.getLogger("perfprobe.timing")

P = ParamSpec("P")
R = TypeVar("R")

# Bound once: each block calls these, and a global is quicker than an
# attribute of a module.
_get_ident = threading.get_ident
# Exported for exactly this check; asking current_task() and catching its
# RuntimeError costs four times as much on every plain ``with``.
_running_loop = asyncio._get_running_loop
_perf_ns = time.perf_counter_ns
_wall_s = time.time
_current_scope = current_scope.get
# The request mark's ContextVar.get itself: no Python frame per block.
_current_mark = current_mark

#: The tags of every timer made without any: one shared empty mapping that
#: cannot be changed, rather than a dict made (and freed) per block.
_NO_TAGS: Mapping[str, str] = MappingProxyType({})


class ExecutionTimer:
    """Measure a ``with`` block, an ``async with`` block, or every decorated call.

    The exception of a failing block or call is recorded by type and then
    propagates unchanged: the same object, with its cause and traceback.
    ``asyncio.CancelledError`` (a client disconnect) and ``GeneratorExit``
    (a generator closed early) are no failure: the time is recorded
    without an error type.
    Decorating a generator function measures each whole iteration; an async
    generator function is rejected with ``TypeError``.

    Made by ``monitor.measure_execution_time(name, tags)`` (``new_timer``);
    the class itself takes no arguments.
    """

    __slots__ = ("__weakref__", "_monitor", "_starts", "name", "tags")

    _monitor: PerformanceMonitor
    #: Open starts per thread and task (see ``new_timer``).
    _starts: Starts
    name: str
    tags: Mapping[str, str]

    # No __init__: new_timer() (measure_execution_time) makes every timer by
    # calling the class with no arguments, which allocates it in C without
    # a Python frame, and sets the slots itself.

    # -- the measurement itself -------------------------------------------

    def _start(self, thread_id: int) -> _Start | _Off:
        """Count the thread busy and read the clocks; ``_OFF`` if not recording."""
        monitor = self._monitor
        try:
            # monitor.timing_active() inlined: it costs three calls more per
            # block. Off (MEASURE_TIMING, ENABLED, an unmonitored request),
            # the timer keeps nothing and counts no thread busy.
            mark = _current_mark()
            if mark is not None and mark.suppressed:
                return _OFF
            # The cached settings read directly; get_settings() only when the
            # cache was cleared (a setting_changed signal) or never filled.
            conf = _conf_module.loaded or get_settings()
            if not (conf.ENABLED and conf.MEASURE_TIMING):
                return _OFF
            collector = monitor.collector
            try:
                log: ThreadLog = collector.thread_logs.local.log
            except AttributeError:
                log = collector.register_thread()
            if log.open_blocks:
                collector.mark_shared(thread_id)
        except Exception:
            # Unreadable settings are logged by the monitor's own check.
            if monitor.timing_active():
                log_failure(
                    logger, "start", "perfprobe failed to start operation %r", self.name
                )
            return _OFF
        # Counted before the clock starts and after the open blocks were
        # looked at: a memory block opening meanwhile sees this count.
        log.busy += 1
        # While no tracer provider can be there yet (tracing decides that
        # again at no_tracer_until_ns), no call is spent on tracing; the
        # block's own clock reading tells.
        started_ns = _perf_ns()
        if started_ns >= tracing.no_tracer_until_ns and tracing.active:
            span = tracing.start_block(self.name, self.tags)
            # Starting the span is not the block's time.
            started_ns = _perf_ns()
        else:
            span = None
        return (started_ns, _wall_s(), log, span, conf.SLOW_OPERATION_SECONDS)

    def _finish(
        self,
        start: _Start,
        exc: BaseException | None,
        thread_id: int,
        ended_ns: int | None = None,
    ) -> None:
        """Record the block of ``start``, ended by ``thread_id`` at ``ended_ns``."""
        duration_s = ((ended_ns or _perf_ns()) - start[0]) / 1e9
        log = start[2]
        try:
            collector = self._monitor.collector
            if (
                exc is None
                and start[3] is None
                and thread_id == log.thread_id
                and not collector._listeners.items
            ):
                self._keep(log, collector, duration_s, start[1])
            else:
                record_now(self, start, exc, thread_id, duration_s)
            if duration_s > start[4] * collector.time_scale:
                self._monitor._warn_if_slow(self.name, duration_s)
        except Exception:
            log_failure(
                logger, "record", "perfprobe failed to record operation %r", self.name
            )

    def _keep(
        self, log: ThreadLog, collector: Collector, duration_s: float, wall_s: float
    ) -> None:
        """Leave the record of a block that ended normally in its thread's log.

        ``__exit__`` does the same inline (a frame less per block); the two
        are kept in step.
        """
        log.busy -= 1
        records = log.records
        tags = self.tags
        scope = _current_scope()
        records.append(
            (self.name, duration_s, wall_s, None, None, log)
            if scope is None and tags is _NO_TAGS
            else [self.name, duration_s, wall_s, scope, dict(tags) or None, log]
        )
        if log.open_blocks:
            collector.mark_shared(log.thread_id)
        if len(records) >= BATCH_SIZE:
            collector.fold_thread_log(log)

    # -- context manager ---------------------------------------------------

    def __enter__(self) -> ExecutionTimer:
        # _start() inlined for the usual block (timing on, not suppressed,
        # the thread's log made, no memory block open): a frame and a
        # get_ident() less. Kept in step with it; anything else goes there.
        conf = _conf_module.loaded
        mark = _current_mark()
        try:
            log: ThreadLog | None = (
                self._monitor.collector.thread_logs.local.log
                if conf is not None
                and conf.ENABLED
                and conf.MEASURE_TIMING
                and (mark is None or not mark.suppressed)
                else None
            )
        except Exception:
            # Before the thread's first timer (AttributeError), or a broken
            # monitor: _start() registers the thread, or logs and gives up.
            log = None
        start: _Start | _Off
        if conf is None or log is None or log.open_blocks:
            thread_id = _get_ident()
            start = self._start(thread_id)
        else:
            # The log is the calling thread's: its id is this thread's.
            thread_id = log.thread_id
            log.busy += 1
            started_ns = _perf_ns()
            if started_ns >= tracing.no_tracer_until_ns and tracing.active:
                span = tracing.start_block(self.name, self.tags)
                started_ns = _perf_ns()
                slow_s = conf.SLOW_OPERATION_SECONDS
                start = (started_ns, _wall_s(), log, span, slow_s)
            else:
                start = (started_ns, _wall_s(), log, None, conf.SLOW_OPERATION_SECONDS)
        starts = self._starts
        # A block of a thread with no other block of this timer open (the
        # usual one: a timer made for its block) is kept under its thread
        # alone, with no event loop asked: one open block is taken whatever
        # its key, and a task that finds none under its own key takes its
        # thread's (see timerstarts.take). A second block of the thread, say
        # another task's, gets the full key below.
        if starts.setdefault(thread_id, start) is start:
            return self
        loop = _running_loop()
        key = thread_id if loop is None else _task_key(thread_id, loop)
        # Atomic: only one start per key gets in without the lock.
        if starts.setdefault(key, start) is not start:
            push(starts, key, start)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ended_ns = _perf_ns()
        thread_id = _get_ident()
        starts = self._starts
        # The usual block is the timer's only open one, entered outside an
        # event loop under this thread's id. With one start open, it is this
        # block's whatever its key (see timerstarts.take), so no event loop
        # or task needs asking; the pop is atomic and only this thread makes
        # entries under its own id. Any other case (several open, a task's
        # key, a stack) goes the long way.
        start = starts.pop(thread_id, None) if len(starts) == 1 else None
        if type(start) is not tuple:
            if start is not _OFF:
                stack = cast("list[_Start | _Off] | None", start)
                exit_unusual(self, stack, exc, thread_id, ended_ns)
            return
        # Found under this thread's own id: only this thread makes entries
        # under it, so the block started here (its log is this thread's).
        if exc is not None or start[3] is not None:
            self._finish(start, exc, thread_id, ended_ns)
            return
        log = start[2]
        # _finish() and _keep() inlined for the usual block: it ended
        # normally, in its own thread, with no span. Kept in step with them.
        duration_s = (ended_ns - start[0]) / 1e9
        try:
            collector = self._monitor.collector
            if collector._listeners.items:
                record_now(self, start, None, thread_id, duration_s)
            else:
                log.busy -= 1
                records = log.records
                tags = self.tags
                scope = _current_scope()
                # A tuple where nothing in it will be replaced (see Record).
                records.append(
                    (self.name, duration_s, start[1], None, None, log)
                    if scope is None and tags is _NO_TAGS
                    else [
                        self.name,
                        duration_s,
                        start[1],
                        scope,
                        dict(tags) or None,
                        log,
                    ]
                )
                if log.open_blocks:
                    collector.mark_shared(thread_id)
                if len(records) >= BATCH_SIZE:
                    collector.fold_thread_log(log)
            if duration_s > start[4] * collector.time_scale:
                self._monitor._warn_if_slow(self.name, duration_s)
        except Exception:
            log_failure(
                logger, "record", "perfprobe failed to record operation %r", self.name
            )

    async def __aenter__(self) -> ExecutionTimer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator -----------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``func`` so that every call is measured.

        Coroutine functions (also those marked by asgiref), generator
        functions and plain callables are supported; an async generator
        function raises ``TypeError``, as does anything not callable and a
        ``property``, ``classmethod`` or ``staticmethod`` object (the decorator
        goes below it, next to the ``def``).
        """
        return wrap(self, func)


def new_timer(
    monitor: PerformanceMonitor, name: str, tags: dict[str, Any] | None = None
) -> ExecutionTimer:
    """Return a timer usable as ``with``, ``async with`` or a decorator.

    ``PerformanceMonitor.measure_execution_time`` is this function, so
    ``monitor`` is the monitor it is called on. Tag keys and values are
    kept as strings. Raise ``ValueError`` when ``name`` is not a non-empty
    ``str``, and ``TypeError`` when ``tags`` is given but is no mapping.
    """
    if type(name) is not str or not name:
        if not isinstance(name, str) or not name:
            raise bad_name(name)
        # A subclass's own hash or comparison would run in the fold, under
        # the collector's lock, and could raise there: the name is kept as
        # the plain str of its characters (which the C split also needs).
        name = str.__str__(name)
    # The class called with no arguments allocates the timer in C
    # (object.__new__ called from Python checks its argument first).
    timer = ExecutionTimer()
    timer._monitor = monitor
    timer.name = name
    if tags:
        try:
            items = tags.items
        except AttributeError:
            raise TypeError(
                "measure_execution_time() takes tags as a dict (tag: value), "
                f"not {type(tags).__name__}"
            ) from None
        timer.tags = {str(k): str(v) for k, v in items()}
    else:
        timer.tags = _NO_TAGS
    # One instance may be entered by several threads or asyncio tasks at
    # once (a timer kept at module level), so starts are kept per thread
    # and task. Entering and leaving are one atomic dict operation each
    # (setdefault and pop), so the usual case takes no lock; a key entered
    # twice keeps a stack, changed under the lock of timerstarts. An entry
    # is removed when its block ends, so the table holds only open blocks.
    # Re-entrant: an allocation may finalise a generator suspended in this
    # same timer, whose exit uses the table too; each step leaves it
    # consistent for such a nested call.
    timer._starts = {}
    return timer
