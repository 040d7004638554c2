"""Offer the public probes through ``PerformanceMonitor`` and a default ``monitor``."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from contextvars import Token
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from asgiref.sync import iscoroutinefunction

from .collector import Collector
from .conf import get_settings
from .events import MemoryRecord
from .failures import log_failure, reset_failures
from .memory import MemoryProbe
from .scope import (
    ChildScope,
    Scope,
    current_scope,
    current_task_ref,
    enclosing_scope,
    next_scope_id,
)
from .suppression import is_suppressed
from .timing import new_timer

if TYPE_CHECKING:
    from .report import Report

logger = logging.getLogger("perfprobe")

_P = ParamSpec("_P")
_R = TypeVar("_R")


class PerformanceMonitor:
    """Time code, track memory and group work into scopes, all into one collector.

    Thresholds are read from the ``PERFPROBE`` settings; ``time_scale``
    multiplies every time threshold, so a run whose latencies were scaled
    down (as the demo's tests do) is judged on the same footing.
    """

    def __init__(self, collector: Collector | None = None) -> None:
        self.collector = collector or Collector()

    # -- configuration -------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Return whether ``PERFPROBE["ENABLED"]`` is on."""
        return get_settings().ENABLED

    def timing_active(self) -> bool:
        """Return whether a timer started now records: ``MEASURE_TIMING`` is on.

        Off as well inside a request kept out of the data (excluded, not
        sampled, or an unmonitored view), and when the settings cannot be
        read (logged once).
        """
        return self._probe_active("MEASURE_TIMING")

    def memory_active(self) -> bool:
        """Return whether a memory probe taken now records: ``TRACK_MEMORY`` is on.

        Off in the same cases as ``timing_active``.
        """
        return self._probe_active("TRACK_MEMORY")

    def _probe_active(self, switch: str) -> bool:
        if is_suppressed():
            return False
        try:
            conf = get_settings()
        except Exception:
            log_failure(logger, "settings", "perfprobe cannot read its settings")
            return False
        return conf.ENABLED and bool(getattr(conf, switch))

    @property
    def time_scale(self) -> float:
        """Return the factor applied to every time threshold (default 1.0)."""
        return self.collector.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(
                f"time_scale must be a finite number above 0, not {value!r}"
            )
        self.collector.time_scale = float(value)

    def threshold_s(self, seconds: float) -> float:
        """Return a time threshold in seconds scaled by ``time_scale``."""
        return seconds * self.collector.time_scale

    # -- probes ------------------------------------------------------------------

    #: ``measure_execution_time(name, tags=None)``: return a timer usable as
    #: ``with``, ``async with`` or a decorator; raise ``ValueError`` when
    #: ``name`` is not a non-empty ``str``. The function itself, not a method
    #: calling it: a Python frame less on every block (about 0.4k
    #: instructions).
    measure_execution_time = new_timer

    def track_memory_usage(self, label: str) -> MemoryProbe:
        """Take a memory checkpoint now; use the result with ``with`` for a block."""
        return MemoryProbe(self, label)

    def scope(
        self, name: str, kind: str = "user"
    ) -> contextlib.AbstractContextManager[Scope]:
        """Group everything recorded inside the block under ``name``.

        Scopes nest. They live in a ``ContextVar``, so concurrent async tasks
        keep their own; a thread started inside a scope must be given it, for
        example by running its target through ``propagate()``.
        Leaving a scope never raises, even when it is left out of order or in
        another context (a generator finalised elsewhere); the exception
        leaving the block passes through unchanged. Raise ``TypeError`` when
        ``name`` or ``kind`` is not a ``str``: another type would be kept and
        later break every report that holds it, and ``ValueError`` when
        ``name`` is empty: the report names scopes in its findings ("16
        queries in nightly-import"), where an empty one reads as nothing.
        """
        for argument, value in (("name", name), ("kind", kind)):
            if not isinstance(value, str):
                raise TypeError(
                    f"scope() needs a str {argument}, not {type(value).__name__}"
                )
        if not name:
            raise ValueError("scope() needs a non-empty name, not ''")
        # Checked here, at the call: a generator's body would run only when
        # the block is entered.
        return self._scope(name, kind)

    @contextlib.contextmanager
    def _scope(self, name: str, kind: str) -> Iterator[Scope]:
        scope, token = self._enter_scope(name, kind)
        try:
            yield scope
        finally:
            self._exit_scope(scope, token)

    def _enter_scope(self, name: str, kind: str) -> tuple[Scope, Token[Scope | None]]:
        """Open ``name`` and make it current; ``scope()`` without a generator.

        The request middleware calls this pair directly: a generator-based
        context manager costs a generator and its wrapper per request.
        """
        # The current scope is also the suppression mark: a suppressed one
        # (a request left out, or its own scope once its view turns out to
        # be unmonitored) keeps the new scope out of the data too.
        current = current_scope.get()
        suppressed = current is not None and current.suppressed
        # Every field given: a default factory costs a call per field. Made
        # inside another scope, it follows that one's flag (ChildScope); a
        # mark is not a parent, the scope it was set in is.
        scope = (Scope if current is None else ChildScope)(
            name,
            kind,
            enclosing_scope(current),
            next_scope_id(),
            time.time(),
            time.perf_counter_ns(),
            None,
            current_task_ref(),
        )
        if current is not None and current.is_mark:
            # No parent to follow: the mark's flag is copied, and its
            # request, which a second entry of the middleware looks for.
            scope.suppressed = suppressed
            scope.request = current.request
            scope.outer_mark = current
        # Inside a request kept out of the data the scope is current (code
        # may ask for it) but the collector never hears of it, so closing it
        # records nothing either.
        try:
            if not suppressed:
                self.collector.scope_opened(scope)
        except Exception:
            log_failure(logger, "scope-open", "perfprobe failed to open scope %r", name)
        return scope, current_scope.set(scope)

    def _exit_scope(self, scope: Scope, token: Token[Scope | None]) -> None:
        """Leave and close a scope from ``_enter_scope``; never raise."""
        try:
            leave_scope(scope, token)
        except Exception:
            log_failure(
                logger, "scope-leave", "perfprobe failed to leave scope %r", scope.name
            )
        duration_s = (time.perf_counter_ns() - scope.started_ns) / 1e9
        try:
            if scope.tracker is not None and scope.suppressed:
                # Opened before its request turned out to serve an
                # unmonitored view (a middleware's scope around the view):
                # forgotten with that request, no summary naming its route.
                self.collector.scope_discarded(scope)
                return
            scope.summary = self.collector.scope_closed(scope, duration_s)
        except Exception:
            log_failure(
                logger, "scope-close", "perfprobe failed to close scope %r", scope.name
            )

    def propagate(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Return a callable that runs ``fn`` in the scope current now, in any thread.

        Threads do not inherit ``contextvars``, so work handed to a thread
        pool would otherwise be recorded outside every scope. The returned
        callable runs ``fn(*args, **kwargs)`` in a copy of the context
        (perfprobe's scope and every other context variable) taken when
        ``propagate`` was called, and returns its result or lets its
        exception pass unchanged::

            with ThreadPoolExecutor() as pool:
                products = list(pool.map(monitor.propagate(load), pks))

        For a coroutine function the result is a coroutine function too:
        each call's coroutine runs as its own asyncio task in that context,
        on whichever event loop awaits it (say ``asyncio.run()`` in a worker
        thread). A callable that returns a coroutine gets the same.

        It may be called any number of times, from several threads at once.
        A call that runs after the scope has closed is recorded in the
        process totals, and in any enclosing scope still open, but not in
        the closed scope's summary. Django does not close the database
        connections of threads it did not start: the worker should call
        ``django.db.connections.close_all()`` when it is done.

        Raise ``TypeError`` when ``fn`` is not callable.
        """
        if not callable(fn):
            raise TypeError(
                f"propagate() needs a function or other callable, "
                f"not {type(fn).__name__}"
            )
        context = contextvars.copy_context()

        if iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async_in_scope(*args: Any, **kwargs: Any) -> Any:
                call_context = context.copy()
                return await _in_context(
                    call_context, call_context.run(fn, *args, **kwargs)
                )

            return cast(Callable[_P, _R], run_async_in_scope)

        @functools.wraps(fn)
        def run_in_scope(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            # One Context can be entered by one thread at a time; a copy per
            # call lets pool.map() run the same callable in several workers.
            call_context = context.copy()
            result = call_context.run(fn, *args, **kwargs)
            if inspect.iscoroutine(result):
                # Only built so far: its body runs where it is awaited.
                return cast(_R, _in_context(call_context, result))
            return result

        return run_in_scope

    # -- results ---------------------------------------------------------------

    def generate_report(self, **options: Any) -> Report:
        """Build a ``Report`` from everything collected so far."""
        from .report.builder import ReportBuilder

        return ReportBuilder(self.collector.snapshot(), **options).build()

    def reset(self) -> None:
        """Forget every measurement and reread the settings.

        The failures already logged are forgotten too: the next failure of
        each kind is logged in full again.
        """
        self.collector.reset()
        reset_failures()

    # -- internal hooks used by the probes ---------------------------------------

    def _warn_if_slow(self, name: str, duration_s: float) -> None:
        limit_s = self.threshold_s(get_settings().SLOW_OPERATION_SECONDS)
        if duration_s > limit_s:
            # Only on the slow path: a threshold under a millisecond printed
            # "%.3f s" as 0.000 s.
            from .report.fmt import format_against, format_duration

            logger.warning(
                "Slow operation %s took %s (threshold %s)",
                name,
                format_against(duration_s, limit_s),
                format_duration(limit_s),
                extra={"duration_s": duration_s, "threshold_s": limit_s},
            )

    def _warn_if_high_memory(self, record: MemoryRecord) -> None:
        limit_bytes = get_settings().HIGH_MEMORY_MB * 1024 * 1024
        peak = record.peak_above_start_bytes or 0
        if peak > limit_bytes:
            from .report.fmt import format_bytes

            logger.warning(
                "Memory block %s peaked %s above its start (threshold %s)",
                record.label,
                format_bytes(peak),
                format_bytes(limit_bytes),
                extra={"peak_bytes": peak, "threshold_bytes": limit_bytes},
            )


async def _in_context(
    context: contextvars.Context, coro: Coroutine[Any, Any, _R]
) -> _R:
    """Run ``coro`` to its end as a task in ``context``; return or raise as it does.

    Awaiting the task passes a cancellation of the caller on to it.
    """
    return await asyncio.create_task(coro, context=context)


def leave_scope(scope: Scope, token: Token[Scope | None]) -> None:
    """Make ``scope`` stop being current in this context, whatever the order."""
    current = current_scope.get()
    # What was current when the scope was opened, as far as it is known: a
    # mark skipped as the parent must come back, or a request left out
    # would be recorded from here on.
    before = scope.parent if scope.outer_mark is None else scope.outer_mark
    if current is scope:
        try:
            current_scope.reset(token)
        except (ValueError, RuntimeError):
            # The token belongs to another Context: a generator entered the
            # scope in one task or context and is being closed in another.
            current_scope.set(before)
    elif current is not None and scope in current.lineage():
        # Left before a scope nested in it (enter A, enter B, exit A): the
        # inner scope goes too, or work would land in a closed scope.
        current_scope.set(before)
    # Otherwise this context never had the scope current: nothing to undo.


monitor = PerformanceMonitor()
