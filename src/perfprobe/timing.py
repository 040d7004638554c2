"""Time a block or a function call: ``measure_execution_time`` in both forms."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from .db.callsite import find_raise_site
from .events import OperationEvent, error_type_name
from .scope import get_current_scope

if TYPE_CHECKING:
    from .monitoring import PerformanceMonitor

logger = logging.getLogger("perfprobe.timing")

P = ParamSpec("P")
R = TypeVar("R")


class ExecutionTimer:
    """Measure a ``with`` block, an ``async with`` block, or every decorated call.

    The exception of a failing block or call is recorded by type and then
    propagates unchanged: the same object, with its cause and traceback.
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
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        # One instance may be entered by several threads or tasks at once
        # (a timer kept at module level), so starts live per thread.
        self._local = threading.local()

    # -- the measurement itself -------------------------------------------

    def _start(self) -> tuple[int, float]:
        self._monitor._thread_busy(+1)
        return time.perf_counter_ns(), time.time()

    def _finish(self, start: tuple[int, float], exc: BaseException | None) -> None:
        duration_s = (time.perf_counter_ns() - start[0]) / 1e9
        try:
            self._monitor._thread_busy(-1)
            if not self._monitor.enabled:
                return
            scope = get_current_scope()
            thread = threading.current_thread()
            event = OperationEvent(
                name=self.name,
                duration_s=duration_s,
                started_at=start[1],
                thread_id=thread.ident or 0,
                thread_name=thread.name,
                scope=scope.path if scope else None,
                tags=dict(self.tags),
                error_type=error_type_name(type(exc)) if exc is not None else None,
                raised_at=find_raise_site(exc) if exc is not None else None,
            )
            self._monitor.collector.record_operation(event, scope)
            self._monitor._warn_if_slow(self.name, duration_s)
        except Exception:
            logger.exception("perfprobe failed to record operation %r", self.name)

    # -- context manager ---------------------------------------------------

    def _push(self) -> None:
        stack = getattr(self._local, "starts", None)
        if stack is None:
            stack = self._local.starts = []
        stack.append(self._start())

    def _pop(self, exc: BaseException | None) -> None:
        self._finish(self._local.starts.pop(), exc)

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
        """Wrap ``func`` (sync or async) so that every call is measured."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = self._start()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    self._finish(start, exc)
                    raise
                self._finish(start, None)
                return result

            return cast(Callable[P, R], async_wrapper)

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
