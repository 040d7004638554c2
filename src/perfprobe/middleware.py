"""Monitor each request by route pattern, as its own scope (sync and async)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from . import conf as conf_module
from . import monitoring, sampling, tracing
from .access import UNMONITORED_ATTR
from .apps import startup_error
from .conf import get_settings, settings_or_none
from .db.callsite import find_raise_site
from .events import error_type_name
from .failures import log_failure
from .monitoring import leave_scope
from .monitoring import logger as monitor_logger
from .routes import UNMATCHED_ROUTE as UNMATCHED_ROUTE
from .routes import endpoint_names, endpoint_of, name_endpoint
from .routes import method_of as method_of
from .routes import route_of as route_of
from .scope import RequestScope, Scope, current_scope, current_task_ref
from .suppression import (
    current_mark,
    enter_mark,
    exit_mark,
    keep_unmonitored,
    pop_mark,
    push_mark,
    request_mark,
)

logger = logging.getLogger("perfprobe.request")

#: The status recorded for a request whose client disconnected before the
#: response (nginx's "client closed request"); it is not counted as an error.
CLIENT_CLOSED_STATUS = 499
_ERROR_ATTR = "_perfprobe_error_type"
_RAISED_AT_ATTR = "_perfprobe_raised_at"
# Set by the first PerformanceMiddleware a request meets (``None`` when the
# request is not recorded): a second entry in MIDDLEWARE then passes the
# request on instead of recording it again. One attribute for both, since
# each new one grows the request's ``__dict__``.
_SCOPE_ATTR = "_perfprobe_scope"
_get_ident = threading.get_ident


def _count_skipped(reason: str) -> None:
    try:
        monitoring.monitor.collector.record_skipped_request(reason)
    except Exception:
        log_failure(logger, "count-skipped", "perfprobe failed to count a request")


class PerformanceMiddleware:
    """Record method, route, status, duration and query count of every request.

    A request under ``EXCLUDE_PATHS``, one left out by ``SAMPLE_RATE``, and
    one served by a view marked ``perfprobe.access.unmonitored`` is only
    counted: its request, its queries, timers, memory probes and scopes are
    not recorded, nor those run while its streaming body is sent or its
    response is closed.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        """Wrap ``get_response``; raise ``ImproperlyConfigured`` if start-up failed.

        A server started with an invalid ``PERFPROBE`` stops here, naming
        the key, rather than serving every request unmonitored.
        """
        error = startup_error()
        if error is not None:
            raise ImproperlyConfigured(str(error))
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)
        # Django wraps a sync process_view in sync_to_async on an async chain;
        # an async one there spares every request a hop to the sync thread.
        self.process_view: Callable[..., Any] = (
            self._aname_at_view if self._is_async else self._name_at_view
        )
        #: The settings last seen to monitor every request (see _skip_reason);
        #: never ``None``, which stands for unreadable settings.
        self._monitors_all: object = _NOT_YET
        #: STORE_QUERY_STRINGS of the settings last read by _skip_reason.
        self._store_query_strings = False

    def __call__(self, request: HttpRequest) -> Any:
        """Serve ``request`` through the rest of the stack and record it."""
        if self._is_async:
            return self.__acall__(request)
        # The request's attributes read and set in its __dict__, once looked up.
        attrs = request.__dict__
        if _SCOPE_ATTR in attrs:
            return self.get_response(request)
        if conf_module.loaded is not self._monitors_all:
            attrs[_SCOPE_ATTR] = None
            reason = self._skip_reason(request)
            if reason == sampling.OFF:
                return self.get_response(request)
            if reason is not None:
                try:
                    with request_mark(suppressed=True) as mark:
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
        started_at = time.time()
        started_ns = time.perf_counter_ns()
        scope = RequestScope(
            current_scope.get(),
            started_at,
            started_ns,
            None if asyncio._get_running_loop() is None else current_task_ref(),
        )
        # The scope is the request's mark too: a fresh one, not suppressed.
        mark_token = push_mark(scope)
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
            scope_token = current_scope.set(scope)
            try:
                attrs[_SCOPE_ATTR] = scope
                if (
                    tracing.active
                    and started_ns >= tracing.no_tracer_until_ns
                    and tracing.get_tracer() is not None
                ):
                    response = self._traced(request)
                else:
                    response = self.get_response(request)
                # Named in process_view unless no view was reached (no URL
                # matched, or a middleware answered first); the name stands
                # unless the request was resolved again since.
                named = scope.endpoint
                if named is None or named[0] is not getattr(
                    request, "resolver_match", None
                ):
                    named = self._name_scope(scope, request)
            except BaseException:
                monitor._exit_scope(scope, scope_token)
                raise
            # The token is this context's own, made above: reset() puts the
            # scope that was current before back, also over a scope left
            # open inside the request, which is what leave_scope does too.
            current_scope.reset(scope_token)
        finally:
            pop_mark(mark_token)
        duration_s = (time.perf_counter_ns() - started_ns) / 1e9
        if scope.suppressed:  # an unmonitored view (see _drop)
            keep_unmonitored(response, scope)
        else:
            try:
                monitor.collector.request_ended(
                    scope,
                    (
                        (named or endpoint_of(request))[1][1],
                        int(response.status_code),
                        duration_s,
                        started_at,
                        _get_ident(),
                        (
                            request.META.get("QUERY_STRING") or None
                            if self._store_query_strings
                            else None
                        ),
                        attrs.get(_ERROR_ATTR),
                        attrs.get(_RAISED_AT_ATTR),
                    ),
                )
            except Exception:
                log_failure(
                    logger, "record-request", "perfprobe failed to record a request"
                )
        return response

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
        if _SCOPE_ATTR in request.__dict__:
            return await get_response(request)
        if conf_module.loaded is not self._monitors_all:
            request.__dict__[_SCOPE_ATTR] = None
            reason = self._skip_reason(request)
            if reason == sampling.OFF:
                return await get_response(request)
            if reason is not None:
                try:
                    with request_mark(suppressed=True) as mark:
                        response = await get_response(request)
                finally:
                    _count_skipped(sampling.left_out_because(request, reason))
                keep_unmonitored(response, mark)
                return response
        monitor = monitoring.monitor
        started_at = time.time()
        started_ns = time.perf_counter_ns()
        try:
            mark, mark_token = enter_mark(suppressed=False)
            try:
                scope, scope_token = monitor._enter_request_scope(
                    started_at, started_ns
                )
                try:
                    setattr(request, _SCOPE_ATTR, scope)
                    with tracing.request_span(request) as span:
                        response = await get_response(request)
                        span.finish(response)
                    self._name_again(scope, request)
                except asyncio.CancelledError:
                    _leave(scope, scope_token)
                    raise
                except BaseException:
                    monitor._exit_scope(scope, scope_token)
                    raise
                _leave(scope, scope_token)
            finally:
                exit_mark(mark_token)
        except asyncio.CancelledError:
            # Django cancels the request's task when the client disconnects.
            # Left unrecorded, the requests clients gave up on, often the
            # slowest, would vanish from their endpoint's figures.
            self._record(scope, request, None, started_ns, started_at)
            raise
        self._record(scope, request, response, started_ns, started_at)
        if mark.suppressed:
            keep_unmonitored(response, mark)
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

    def _name_at_view(
        self, request: HttpRequest, view: Any, args: Any = (), kwargs: Any = None
    ) -> None:
        # The URL is resolved by now: naming the scope here, not only when
        # the response is back, files the view's queries and operations
        # under the route instead of the placeholder "request".
        scope = getattr(request, _SCOPE_ATTR, None)
        if scope is None:
            return
        if getattr(view, UNMONITORED_ATTR, False):
            self._drop(scope, request)
            return
        # _name_scope written out: this runs once per request.
        try:
            # Set before process_view; without it, _name_scope below copes.
            match = request.resolver_match
            route = match.route  # type: ignore[union-attr]
            endpoint = endpoint_names.get((request.method, route))
            if endpoint is None:
                endpoint = name_endpoint(request, match)
            scope.name = endpoint[0]
            scope.endpoint = (match, endpoint)
        except Exception:
            self._name_scope(scope, request)

    async def _aname_at_view(
        self, request: HttpRequest, view: Any, args: Any = (), kwargs: Any = None
    ) -> None:
        self._name_at_view(request, view)

    def _drop(self, scope: Scope, request: HttpRequest) -> None:
        # Decided before the view runs, so nothing the view does is
        # recorded; what ran before it (other middleware) was already.
        try:
            # The request's scope is its mark (see __call__); another mark
            # made current inside the request is switched too.
            scope.suppressed = True
            mark = current_mark()
            if mark is not None:
                mark.suppressed = True
            setattr(request, _SCOPE_ATTR, None)
            monitoring.monitor.collector.scope_discarded(scope)
        except Exception:
            log_failure(logger, "drop", "perfprobe failed to drop an unmonitored view")
        _count_skipped(sampling.UNMONITORED_VIEW)

    def _name_scope(
        self, scope: Scope, request: HttpRequest
    ) -> tuple[Any, tuple[str, tuple[str, str]]] | None:
        """Name ``scope`` "METHOD /route/"; return what ``scope.endpoint`` holds."""
        try:
            match = getattr(request, "resolver_match", None)
            endpoint = endpoint_names.get(
                (request.method, getattr(match, "route", None))
            )
            if endpoint is None:
                endpoint = name_endpoint(request, match)
            scope.name = endpoint[0]
            named = (match, endpoint)
            scope.endpoint = named
            return named
        except Exception:
            log_failure(
                logger, "name-scope", "perfprobe failed to name the request scope"
            )
            return None

    def _name_again(self, scope: Scope, request: HttpRequest) -> None:
        named = scope.endpoint
        if named is None or named[0] is not getattr(request, "resolver_match", None):
            self._name_scope(scope, request)

    def _record(
        self,
        scope: Scope,
        request: HttpRequest,
        response: HttpResponseBase | None,
        started_ns: int,
        started_at: float,
    ) -> None:
        """Record the request; without a response it was aborted (status 499)."""
        duration_s = (time.perf_counter_ns() - started_ns) / 1e9
        if getattr(request, _SCOPE_ATTR, None) is None:
            return  # dropped in process_view: an unmonitored view
        try:
            # Without a name, naming failed (and was logged): try again.
            key = (scope.endpoint or endpoint_of(request))[1][1]
            monitoring.monitor.collector.request_ended(
                scope,
                (
                    key,
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
                ),
            )
        except Exception:
            log_failure(
                logger, "record-request", "perfprobe failed to record a request"
            )


_NOT_YET = object()


def _leave(scope: Scope, token: Token[Scope | None]) -> None:
    try:
        leave_scope(scope, token)
    except Exception:
        log_failure(logger, "scope-leave", "perfprobe failed to leave a request scope")
