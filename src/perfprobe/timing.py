"""Time a block or a function call: ``measure_execution_time`` in both forms."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar, cast

from asgiref.sync import iscoroutinefunction

from . import tracing
from .db.callsite import find_raise_site
from .events import OperationEvent, error_type_name, is_interruption
from .failures import log_failure
from .scope import current_scope

if TYPE_CHECKING:
    from .monitoring import PerformanceMonitor
    from .tracing.spans import BlockSpan

logger = logging.getLogger("perfprobe.timing")

P = ParamSpec("P")
R = TypeVar("R")

#: Where an open ``with`` block is: its thread and its asyncio task, if any.
_StartKey = tuple[int, int | None]


class _Start(NamedTuple):
    perf_ns: int
    wall_s: float
    thread_id: int
    #: Decided at the start, so a block is recorded whole or not at all.
    recording: bool
    span: BlockSpan | None = None


_STARTS_LOCK = threading.RLock()


def _start_key() -> _StartKey:
    # _get_running_loop() is exported for exactly this check; asking
    # current_task() and catching its RuntimeError costs four times as much
    # on every plain ``with`` outside a loop.
    loop = asyncio._get_running_loop()
    task = None if loop is None else asyncio.current_task(loop)
    return threading.get_ident(), None if task is None else id(task)


def _is_async_callable(func: Callable[..., Any]) -> bool:
    # asgiref's check also sees markcoroutinefunction and sync_to_async
    # wrappers; an object whose __call__ is a coroutine function is async too.
    if iscoroutinefunction(func) or inspect.iscoroutinefunction(func):
        return True
    return not inspect.isroutine(func) and inspect.iscoroutinefunction(
        type(func).__call__
    )


class ExecutionTimer:
    """Measure a ``with`` block, an ``async with`` block, or every decorated call.

    The exception of a failing block or call is recorded by type and then
    propagates unchanged: the same object, with its cause and traceback.
    ``asyncio.CancelledError`` (a client disconnect) and ``GeneratorExit``
    (a generator closed early) are no failure: the time is recorded
    without an error type.
    Decorating a generator function measures each whole iteration; an async
    generator function is rejected with ``TypeError``.
    """

    def __init__(
        self,
        monitor: PerformanceMonitor,
        name: str,
        tags: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("measure_execution_time() needs a non-empty name")
        self._monitor = monitor
        self.name = name
        self.tags = {str(k): str(v) for k, v in tags.items()} if tags else {}
        # One instance may be entered by several threads or asyncio tasks at
        # once (a timer kept at module level), so starts are kept per thread
        # and task. An empty stack is removed, so the table holds only blocks
        # that are open now. Re-entrant: an allocation under it may finalise
        # a generator suspended in this same timer, whose exit takes it too;
        # each step leaves the table consistent for such a nested call.
        self._starts: dict[_StartKey, list[_Start]] = {}
        # One lock for every timer: its holds are a few dict operations, and
        # a timer made per block need not make a lock each time.
        self._starts_lock = _STARTS_LOCK

    # -- the measurement itself -------------------------------------------

    def _start(self) -> _Start:
        thread_id = threading.get_ident()
        # Off (MEASURE_TIMING, ENABLED, an unmonitored request), the timer
        # costs one settings look-up: no thread counted busy, nothing kept.
        recording = self._monitor.timing_active()
        if not recording:
            return _Start(time.perf_counter_ns(), time.time(), thread_id, False)
        self._monitor._thread_busy(+1, thread_id)
        span = tracing.start_block(self.name, self.tags) if tracing.active else None
        return _Start(time.perf_counter_ns(), time.time(), thread_id, True, span)

    def _finish(self, start: _Start, exc: BaseException | None) -> None:
        if not start.recording:
            return
        duration_s = (time.perf_counter_ns() - start.perf_ns) / 1e9
        if is_interruption(exc):
            # Cancelled (a client disconnect) or its generator closed: the
            # time is kept, but the block did not fail.
            exc = None
        if start.span is not None:
            tracing.end_block(start.span, exc)
        try:
            scope = current_scope.get()
            thread = threading.current_thread()
            event = OperationEvent(
                name=self.name,
                duration_s=duration_s,
                started_at=start.wall_s,
                thread_id=thread.ident or 0,
                thread_name=thread.name,
                scope=scope.path if scope else None,
                tags=dict(self.tags) if self.tags else {},
                error_type=error_type_name(type(exc)) if exc is not None else None,
                raised_at=find_raise_site(exc) if exc is not None else None,
            )
        except Exception:
            log_failure(
                logger, "record", "perfprobe failed to record operation %r", self.name
            )
            # The thread that was counted busy, wherever the block ended.
            self._monitor._thread_busy(-1, start.thread_id)
            return
        try:
            # The busy count of the start's thread goes down in the same call.
            self._monitor.collector.record_operation(
                event, scope, ended_thread_id=start.thread_id
            )
            self._monitor._warn_if_slow(self.name, duration_s)
        except Exception:
            log_failure(
                logger, "record", "perfprobe failed to record operation %r", self.name
            )

    # -- context manager ---------------------------------------------------

    def _push(self) -> None:
        start = self._start()
        key = _start_key()
        new_stack = [start]
        with self._starts_lock:
            stack = self._starts.get(key)
            if stack is None:
                self._starts[key] = new_stack
            else:
                stack.append(start)

    def _take(self) -> _Start | None:
        key = _start_key()
        with self._starts_lock:
            stack = self._starts.get(key)
            if stack is None and len(self._starts) == 1:
                # A generator entered the block in one thread or task and
                # was resumed in another; with a single open start there is
                # no doubt whose it is.
                ((key, stack),) = self._starts.items()
                if len(stack) != 1:
                    return None
            if stack is None:
                return None
            start = stack.pop()
            if not stack:
                del self._starts[key]
            return start

    def _pop(self, exc: BaseException | None) -> None:
        try:
            start = self._take()
        except Exception:
            log_failure(
                logger, "end", "perfprobe failed to end operation %r", self.name
            )
            return
        if start is None:
            logger.debug(
                "perfprobe found no start for operation %r in this thread and "
                "task; nothing recorded",
                self.name,
            )
            return
        self._finish(start, exc)

    def __enter__(self) -> ExecutionTimer:
        self._push()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pop(exc)

    async def __aenter__(self) -> ExecutionTimer:
        self._push()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pop(exc)

    # -- decorator -----------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``func`` so that every call is measured.

        Coroutine functions (also those marked by asgiref), generator
        functions and plain callables are supported; an async generator
        function raises ``TypeError``.
        """
        if inspect.isasyncgenfunction(func):
            raise TypeError(
                f"measure_execution_time({self.name!r}) cannot time an async "
                "generator function; use `async with "
                "monitor.measure_execution_time(...)` inside it"
            )
        if _is_async_callable(func):
            async_func = cast(Callable[P, Awaitable[Any]], func)
            return cast(Callable[P, R], self._wrap_async(async_func))
        if inspect.isgeneratorfunction(func):
            return cast(Callable[P, R], self._wrap_generator(func))

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = self._start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._finish(start, exc)
                raise
            self._finish(start, None)
            return result

        return wrapper

    def _wrap_async(
        self, func: Callable[P, Awaitable[R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = self._start()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                self._finish(start, exc)
                raise
            self._finish(start, None)
            return result

        return async_wrapper

    def _wrap_generator(
        self, func: Callable[P, Generator[Any, Any, R]]
    ) -> Callable[P, Generator[Any, Any, R]]:
        @functools.wraps(func)
        def generator_wrapper(
            *args: P.args, **kwargs: P.kwargs
        ) -> Generator[Any, Any, R]:
            # ``yield from`` forwards send(), throw() and close(), and the
            # measurement spans the whole iteration, not the creation.
            start = self._start()
            try:
                result = yield from func(*args, **kwargs)
            except BaseException as exc:
                # GeneratorExit (the consumer stopped early) is no failure;
                # _finish() decides.
                self._finish(start, exc)
                raise
            self._finish(start, None)
            return result

        return generator_wrapper
