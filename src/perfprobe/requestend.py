"""End a request's scope: name it, record the request, or drop an unmonitored one.

Shared by the request middleware's Python code and its C path
(``perfprobe._reqpath``), which hands a request here after the view when
its scope is not named the common way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from contextvars import Token
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import conf, monitoring, requestscope, sampling, tracing
from .access import UNMONITORED_ATTR
from .collector import Collector
from .failures import log_failure
from .requestfold import REQUEST_BATCH
from .routes import UNMATCHED_ROUTE, Endpoint, endpoint_names
from .scope import Scope, current_scope
from .sketch import PURE_PYTHON_ENV
from .suppression import keep_unmonitored

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from .requestscope import RequestScope

logger = logging.getLogger("perfprobe.request")

ERROR_ATTR = "_perfprobe_error_type"
RAISED_AT_ATTR = "_perfprobe_raised_at"


def load_request_path() -> Any:
    """Return ``perfprobe._reqpath``, or ``None`` to serve requests in Python.

    ``None`` where the extension is not built (or built for another Python)
    or ``PERFPROBE_PURE_PYTHON`` is set.
    """
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        from . import _reqpath
    except ImportError:
        return None
    return _reqpath


def configure_c_path(
    c_path: Any, python_call: Callable[..., Any], middleware: ModuleType
) -> None:
    """Give ``c_path`` (``_reqpath``) the Python code and the state it reads.

    The modules are given whole: the C path reads their attributes (the
    monitor, the loaded settings, the tracing state, the middleware's clocks
    and ``RequestScope``) at each request, as the Python code does.
    """
    c_path.configure(
        python_call,
        finish,
        abandon,
        log_record_failure,
        current_scope,
        asyncio._get_running_loop,
        middleware,
        monitoring,
        conf,
        tracing,
        endpoint_names,
        UNMONITORED_ATTR,
        Collector,
        Collector.request_ended,
        REQUEST_BATCH,
        time.time,
        time.perf_counter_ns,
        requestscope,
        requestscope.RequestScope.__init__,
    )


def abandon(
    monitor: monitoring.PerformanceMonitor,
    scope: RequestScope,
    token: Token[Scope | None],
) -> None:
    """Close the scope of a request whose stack raised; the error passes on."""
    monitor._exit_scope(scope, token)
    # Named by the closing (its summary); the request is let go of.
    scope.request = None


def count_skipped(reason: str) -> None:
    """Count one request kept out of the data; log, never raise, a failure."""
    try:
        monitoring.monitor.collector.record_skipped_request(reason)
    except Exception:
        log_failure(logger, "count-skipped", "perfprobe failed to count a request")


def unnamed(scope: RequestScope) -> Endpoint | None:
    """Name the scope ``(unmatched)`` after naming failed; log the failure."""
    log_failure(logger, "name-scope", "perfprobe failed to name the request scope")
    scope.request = None
    if scope.suppressed:
        return None
    endpoint = ("OTHER " + UNMATCHED_ROUTE, ("OTHER", UNMATCHED_ROUTE))
    scope.name, scope.endpoint = endpoint[0], endpoint
    return endpoint


def drop(scope: RequestScope, request: HttpRequest) -> None:
    """Keep the request of an unmonitored view out of the data; count it."""
    # Its view ran suppressed, so nothing it did was recorded; what ran
    # before the URL was resolved (other middleware) is forgotten with the
    # scope.
    try:
        monitoring.monitor.collector.scope_discarded(scope)
    except Exception:
        log_failure(logger, "drop", "perfprobe failed to drop an unmonitored view")
    count_skipped(sampling.UNMONITORED_VIEW)


def scope_failed() -> None:
    """Log the exception being handled as a failure to make a request's scope."""
    # Its request is served unrecorded.
    log_failure(
        monitoring.logger, "scope-open", "perfprobe failed to open scope %r", "request"
    )


def log_record_failure() -> None:
    """Log the exception being handled as a failure to record a request."""
    log_failure(logger, "record-request", "perfprobe failed to record a request")


def finish(
    middleware: Any,
    monitor: monitoring.PerformanceMonitor,
    scope: RequestScope,
    request: HttpRequest,
    response: HttpResponseBase,
    started_at: float,
    duration_s: float,
) -> HttpResponseBase:
    """Name and record a request once its view returned; return ``response``.

    The end of ``PerformanceMiddleware.__call__`` in Python (``python_call``),
    and of a request whose scope the C path did not name (see ``_reqpath.c``).
    """
    try:
        endpoint = scope.named()
    except Exception:
        endpoint = unnamed(scope)
    if endpoint is None:  # an unmonitored view
        drop(scope, request)
        keep_unmonitored(response, scope)
        return response
    error_type = getattr(request, ERROR_ATTR, None)
    try:
        monitor.collector.request_ended(
            scope,
            (
                endpoint[1],
                int(response.status_code),
                duration_s,
                started_at,
                threading.get_ident(),
                (
                    request.META.get("QUERY_STRING") or None
                    if middleware._store_query_strings
                    else None
                ),
                error_type,
                None if error_type is None else getattr(request, RAISED_AT_ATTR, None),
                scope.id,
                endpoint[0],
                started_at,
            ),
        )
    except Exception:
        log_record_failure()
    return response
