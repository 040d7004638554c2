"""Monitor each request by route pattern, as its own scope (sync and async)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from . import conf as conf_module
from . import monitoring, sampling, tracing
from .apps import startup_error, warn_if_not_installed
from .conf import get_settings, settings_or_none
from .db.callsite import find_raise_site
from .events import error_type_name
from .failures import log_failure
from .monitoring import leave_scope
from .monitoring import logger as monitor_logger
from .requestend import (
    ERROR_ATTR,
    RAISED_AT_ATTR,
    configure_c_path,
    finish,
    load_request_path,
)
from .requestend import abandon as _abandon
from .requestend import count_skipped as _count_skipped
from .requestend import drop as _drop
from .requestend import scope_failed as _scope_failed
from .requestend import unnamed as _unnamed
from .requestscope import RequestScope
from .routes import UNMATCHED_ROUTE as UNMATCHED_ROUTE
from .routes import method_of as method_of
from .routes import route_of as route_of
from .scope import Scope, current_scope, current_task_ref, enclosing_scope
from .suppression import keep_unmonitored, request_mark

logger = logging.getLogger("perfprobe.request")

#: The status recorded for a request whose client disconnected before the
#: response (nginx's "client closed request"); it is not counted as an error.
CLIENT_CLOSED_STATUS = 499
_ERROR_ATTR = ERROR_ATTR
_RAISED_AT_ATTR = RAISED_AT_ATTR
# Module-level names for what the request path calls on every request: a
# global is one lookup, a module's attribute two.
_time = time.time
_perf_counter_ns = time.perf_counter_ns
_running_loop = asyncio._get_running_loop
#: The C path (``_reqpath.c``), or ``None``: requests are served in Python.
_c_path = load_request_path()
if TYPE_CHECKING:
    _RequestPath = object
else:
    _RequestPath = object if _c_path is None else _c_path.RequestPath


class PerformanceMiddleware(_RequestPath):
    """Record method, route, status, duration and query count of every request.

    A request under ``EXCLUDE_PATHS``, one left out by ``SAMPLE_RATE``, and
    one served by a view marked ``perfprobe.access.unmonitored`` is only
    counted: its request, its queries, timers, memory probes and scopes are
    not recorded, nor those run while its streaming body is sent or its
    response is closed.

    Where ``perfprobe._reqpath`` is built, the common synchronous request
    is served in C (the base class's call), the rest by ``python_call``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        """Wrap ``get_response``; raise ``ImproperlyConfigured`` if start-up failed.

        A server started with an invalid ``PERFPROBE`` stops here, naming
        the key, rather than serving every request unmonitored. One started
        without ``perfprobe`` in ``INSTALLED_APPS`` is told so once, in the
        log, and served.
        """
        error = startup_error()
        if error is not None:
            raise ImproperlyConfigured(str(error))
        warn_if_not_installed()
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)
        # No process_view: the request's scope names itself after its route
        # when first asked (see RequestScope), so no hook runs per request.
        #: The settings last seen to monitor every request (see _skip_reason);
        #: never ``None``, which stands for unreadable settings.
        self._monitors_all: object = _NOT_YET
        #: STORE_QUERY_STRINGS of the settings last read by _skip_reason.
        self._store_query_strings = False

    def __call__(self, request: HttpRequest) -> Any:
        """Serve ``request`` through the rest of the stack and record it."""
        if self._is_async:
            return self.__acall__(request)
        # A second entry in MIDDLEWARE finds the request's scope (or mark)
        # current and passes the request on: no attribute on the request,
        # whose every new attribute grows its dict. So does a request made
        # by work kept out of the data (a view's sub-request through the
        # test client): it is that work.
        parent = current_scope.get()
        if parent is not None and (parent.suppressed or _entered(parent, request)):
            return self.get_response(request)
        if conf_module.loaded is not self._monitors_all:
            reason = self._skip_reason(request)
            if reason == sampling.OFF:
                return self.get_response(request)
            if reason is not None:
                try:
                    with request_mark(suppressed=True) as mark:
                        mark.request = request
                        response = self.get_response(request)
                finally:
                    _count_skipped(sampling.left_out_because(request, reason))
                keep_unmonitored(response, mark)
                return response
        # Below, request_mark(), monitor.scope() and the record of the request
        # are written out inline: each Python call saved is saved on every
        # request (see docs/performance-notes.md). The scope is closed in the
        # collector together with the request's record.
        monitor = monitoring.monitor
        started_at = _time()
        started_ns = _perf_counter_ns()
        # Opened in the collector as it is made (Collector.scope_opened
        # without the call: it only sets the scope's tracker). A try costs
        # nothing when nothing is raised; a collector without a scope table
        # (one of the user's own) must not fail the request.
        try:
            tracker = monitor.collector.scope_table
        except Exception:
            tracker = None
            log_failure(
                monitor_logger,
                "scope-open",
                "perfprobe failed to open scope %r",
                "request",
            )
        outer_mark = None
        if parent is not None and parent.is_mark:
            outer_mark, parent = parent, enclosing_scope(parent)
        try:
            scope = RequestScope(
                parent,
                started_at,
                started_ns,
                None if _running_loop() is None else current_task_ref(),
                request,
                tracker,
            )
        except Exception:
            _scope_failed()
            scope = None
        if scope is None:
            # Served unrecorded, outside the except block: the view's own
            # exception must not carry perfprobe's as its __context__.
            return self.get_response(request)
        if outer_mark is not None:
            scope.outer_mark = outer_mark
        # The current scope is the request's mark too (one ContextVar, see
        # perfprobe.suppression): not suppressed unless the view turns out
        # to be unmonitored (see RequestScope).
        scope_token = current_scope.set(scope)
        try:
            if (
                tracing.active
                and started_ns >= tracing.no_tracer_until_ns
                and tracing.get_tracer() is not None
            ):
                response = self._traced(request)
            else:
                response = self.get_response(request)
        except BaseException:
            _abandon(monitor, scope, scope_token)
            raise
        # The token is this context's own, made above: reset() puts the
        # scope that was current before back, also over a scope left open
        # inside the request, which is what leave_scope does too.
        current_scope.reset(scope_token)
        duration_s = (_perf_counter_ns() - started_ns) / 1e9
        # Named and recorded as the C path's requests that it does not name.
        return finish(self, monitor, scope, request, response, started_at, duration_s)

    def _traced(self, request: HttpRequest) -> Any:
        with tracing.request_span(request) as span:
            response = self.get_response(request)
            span.finish(response)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Serve ``request`` asynchronously; the scope follows the task's context."""
        get_response = cast(
            Callable[[HttpRequest], Awaitable[HttpResponseBase]], self.get_response
        )
        parent = current_scope.get()
        if parent is not None and (parent.suppressed or _entered(parent, request)):
            return await get_response(request)
        if conf_module.loaded is not self._monitors_all:
            reason = self._skip_reason(request)
            if reason == sampling.OFF:
                return await get_response(request)
            if reason is not None:
                try:
                    with request_mark(suppressed=True) as mark:
                        mark.request = request
                        response = await get_response(request)
                finally:
                    _count_skipped(sampling.left_out_because(request, reason))
                keep_unmonitored(response, mark)
                return response
        monitor = monitoring.monitor
        started_at = time.time()
        started_ns = time.perf_counter_ns()
        try:
            scope = RequestScope(
                enclosing_scope(parent),
                started_at,
                started_ns,
                current_task_ref(),
                request,
            )
        except Exception:
            _scope_failed()
            scope = None
        if scope is None:
            return await get_response(request)
        if parent is not None and parent.is_mark:
            scope.outer_mark = parent
        try:
            try:
                monitor.collector.scope_opened(scope)
            except Exception:
                log_failure(
                    monitor_logger,
                    "scope-open",
                    "perfprobe failed to open scope %r",
                    "request",
                )
            # The request's scope and its mark: one ContextVar.
            scope_token = current_scope.set(scope)
            try:
                with tracing.request_span(request) as span:
                    response = await get_response(request)
                    span.finish(response)
            except asyncio.CancelledError:
                _leave(scope, scope_token)
                raise
            except BaseException:
                _abandon(monitor, scope, scope_token)
                raise
            _leave(scope, scope_token)
        except asyncio.CancelledError:
            # Django cancels the request's task when the client disconnects.
            # Left unrecorded, the requests clients gave up on, often the
            # slowest, would vanish from their endpoint's figures.
            self._record(scope, request, None, started_ns, started_at)
            raise
        self._record(scope, request, response, started_ns, started_at)
        return response

    def _skip_reason(self, request: HttpRequest) -> str | None:
        reason = sampling.request_skip_reason(request)
        if reason is None:
            conf = settings_or_none()
            self._store_query_strings = conf is not None and conf.STORE_QUERY_STRINGS
            # Remembered, so that the next requests under these very
            # settings skip the decision: each one is monitored.
            if conf is not None and sampling.monitors_every_request(conf):
                self._monitors_all = conf
        return reason

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the type of an exception a view raised; let Django handle it."""
        try:
            setattr(request, _ERROR_ATTR, error_type_name(type(exception)))
            setattr(request, _RAISED_AT_ATTR, find_raise_site(exception))
        except Exception:
            log_failure(
                logger, "note-exception", "perfprobe failed to note a view's exception"
            )

    def _record(
        self,
        scope: RequestScope,
        request: HttpRequest,
        response: HttpResponseBase | None,
        started_ns: int,
        started_at: float,
    ) -> None:
        """Record the request; without a response it was aborted (status 499)."""
        duration_s = (time.perf_counter_ns() - started_ns) / 1e9
        try:
            endpoint = scope.named()
        except Exception:
            endpoint = _unnamed(scope)
        if endpoint is None:  # an unmonitored view
            _drop(scope, request)
            if response is not None:
                keep_unmonitored(response, scope)
            return
        try:
            monitoring.monitor.collector.request_ended(
                scope,
                (
                    endpoint[1],
                    (
                        CLIENT_CLOSED_STATUS
                        if response is None
                        else int(response.status_code)
                    ),
                    duration_s,
                    started_at,
                    threading.get_ident(),
                    (
                        request.META.get("QUERY_STRING") or None
                        if get_settings().STORE_QUERY_STRINGS
                        else None
                    ),
                    getattr(request, _ERROR_ATTR, None),
                    getattr(request, _RAISED_AT_ATTR, None),
                    # The scope's fields, so that a quiet request is kept as
                    # this very tuple (RawRequest): its name is endpoint[0].
                    scope.id,
                    endpoint[0],
                    started_at,
                ),
            )
        except Exception:
            log_failure(
                logger, "record-request", "perfprobe failed to record a request"
            )


_NOT_YET = object()


def _entered(scope: Scope, request: HttpRequest) -> bool:
    """Return whether ``request`` is served by ``scope`` or one of its ancestors."""
    node: Scope | None = scope
    while node is not None:
        if node.request is request:
            return True
        node = node.parent
    return False


def _leave(scope: Scope, token: Token[Scope | None]) -> None:
    try:
        leave_scope(scope, token)
    except Exception:
        log_failure(logger, "scope-leave", "perfprobe failed to leave a request scope")


#: The Python definition of the middleware's call, which serves whatever the
#: C path hands back (the whole request, or its end: ``requestend.finish``).
python_call = PerformanceMiddleware.__call__
if _c_path is not None:
    # Inherited, the base's call is the type's C slot itself: no Python
    # frame on the common path. A subclass's super().__call__ reaches it.
    del PerformanceMiddleware.__call__
    configure_c_path(_c_path, python_call, sys.modules[__name__])
