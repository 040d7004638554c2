"""Make the spans: SERVER for requests, INTERNAL for blocks, CLIENT for queries.

Imported only once tracing is on, so it may import ``opentelemetry`` freely.
No span carries a header, cookie, query string, raw path, exception message
or SQL parameter; raw SQL only with ``STORE_SQL_PARAMETERS``.

A span made current is always detached, even when ending it fails: the SDK
does not catch a span processor's errors, and a span left current in a
reused thread would swallow every later request's spans, also when blocks end
out of order (see ``current``). A cancellation (the client went away) is no
failure of the code: it sets no ``ERROR`` status; nor is a block closed by
``GeneratorExit`` (its generator was closed early).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextvars import Token
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponseBase
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from ..events import QueryEvent, error_type_name, is_interruption
from ..failures import log_failure
from ..middleware import (
    _ERROR_ATTR,
    CLIENT_CLOSED_STATUS,
    UNMATCHED_ROUTE,
    method_of,
    route_of,
)
from . import attributes as attr
from .current import OpenBlock, enter_block, leave, leave_block, live_context
from .unmonitored import is_unmonitored_view

logger = logging.getLogger("perfprobe.tracing")

#: Longest ``db.query.text`` in characters; a longer one is cut to this
#: length, its last character replaced by "…". A bulk insert can be megabytes
#: of SQL, kept by every span processor's queue and sent in every export.
MAX_QUERY_TEXT_CHARS = 4096


def _mark_failed(span: Span, error_type: str | None) -> None:
    # The exception's message is not recorded: it can hold user data.
    if error_type is not None:
        span.set_attribute(attr.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR))


def query_text(sql: str) -> str:
    """Return ``sql`` cut to ``MAX_QUERY_TEXT_CHARS``, ending in "…" when cut."""
    if len(sql) <= MAX_QUERY_TEXT_CHARS:
        return sql
    return sql[: MAX_QUERY_TEXT_CHARS - 1] + "…"


class BlockSpan:
    """An INTERNAL span for one monitored block, current while the block runs."""

    __slots__ = ("open", "span")

    def __init__(self, span: Span, open_block: OpenBlock) -> None:
        self.span = span
        self.open = open_block

    @classmethod
    def start(cls, tracer: Tracer, name: str, tags: Mapping[str, str]) -> BlockSpan:
        """Start the span under the current live one and make it current."""
        attributes = {attr.TAG_PREFIX + key: value for key, value in tags.items()}
        parent = live_context()
        span = tracer.start_span(
            name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        block = cls(span, OpenBlock(parent))
        enter_block(block.open, trace.set_span_in_context(span, parent))
        return block

    def end(self, exc: BaseException | None) -> None:
        """End the span, failed if ``exc`` is given, and stop it being current.

        A cancelled or closed block is not failed. Raises what the span
        raised (a span processor's error), but only once the span is no
        longer current.
        """
        try:
            if exc is not None and not is_interruption(exc):
                _mark_failed(self.span, error_type_name(type(exc)))
        finally:
            try:
                self.span.end()
            finally:
                # Also when blocks end out of order or in another task:
                # leave_block() decides what this context may undo.
                leave_block(self.open)


def record_query_span(
    tracer: Tracer, event: QueryEvent, connection: BaseDatabaseWrapper
) -> None:
    """Emit a finished query as a CLIENT span, timed as it was measured."""
    operation = attr.operation_name(event.fingerprint)
    collection = attr.collection_name(event.fingerprint)
    namespace = attr.db_namespace(connection)
    system = attr.db_system_name(connection)
    # One parameter set is a single operation, not a batch of one.
    batch = event.many and event.batch_size != 1
    if operation is not None and batch:
        operation = f"BATCH {operation}"

    attributes: dict[str, AttributeValue] = {
        attr.DB_SYSTEM_NAME: system,
        # event.sql is the fingerprint unless STORE_SQL_PARAMETERS is on.
        attr.DB_QUERY_TEXT: query_text(event.sql),
    }
    if operation is not None:
        attributes[attr.DB_OPERATION_NAME] = operation
    if batch:
        attributes[attr.DB_OPERATION_BATCH_SIZE] = event.batch_size
    if namespace is not None:
        attributes[attr.DB_NAMESPACE] = namespace
    if collection is not None:
        attributes[attr.DB_COLLECTION_NAME] = collection
    name = " ".join(part for part in (operation, collection) if part) or system

    start_ns = int(event.started_at * 1e9)
    span = tracer.start_span(
        name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start_ns
    )
    try:
        if event.error_type is not None:
            _mark_failed(span, event.error_type)
    finally:
        span.end(end_time=start_ns + int(event.duration_s * 1e9))


class _MetaGetter(Getter[Mapping[str, Any]]):
    """Read propagation headers (``traceparent``) from a WSGI/ASGI ``META``."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [
            key[5:].lower().replace("_", "-")
            for key in carrier
            if key.startswith("HTTP_")
        ]


_META_GETTER = _MetaGetter()


def _is_server_span(span: Span) -> bool:
    # The API's Span has no kind; the SDK's (and most others') have one.
    return span.get_span_context().is_valid and getattr(span, "kind", None) is (
        SpanKind.SERVER
    )


def _is_live_server_span(span: Span) -> bool:
    # An ended server span still current was leaked by some instrumentation
    # (a request that is over): joining it would file this request's spans
    # under another request, so it is neither joined nor made a parent.
    return _is_server_span(span) and span.is_recording()


class RequestSpan:
    """Wrap one request in a SERVER span, or join the one already current.

    When another instrumentation (opentelemetry-instrumentation-django or
    -asgi) has already started the request's SERVER span, a second one
    would break the conventions' one-server-span rule; that span is kept
    current as it is, so perfprobe's block and query spans nest under it,
    and only ``http.route`` is added if it lacks one.

    A request whose view turns out to be ``perfprobe.access.unmonitored``
    has its own span dropped, never ended, and the other instrumentation's
    span left untouched.
    """

    def __init__(self, tracer: Tracer, request: HttpRequest) -> None:
        self._tracer = tracer
        self._request = request
        self._span: Span | None = None
        self._own = False
        self._token: Token[Context] | None = None
        self._parent = context.get_current()
        self._response: HttpResponseBase | None = None

    def __enter__(self) -> RequestSpan:
        try:
            self._start()
        except Exception:
            log_failure(
                logger, "start-request", "perfprobe failed to start a request span"
            )
        return self

    def finish(self, response: HttpResponseBase) -> None:
        """Note the response, whose status the span reports when it ends."""
        self._response = response

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self._end(exc)
        except Exception:
            log_failure(logger, "end-request", "perfprobe failed to end a request span")

    def _start(self) -> None:
        # An ended block left current (in another task's or thread's
        # context, where it could not be undone) is no parent for a request.
        base = live_context()
        current = trace.get_current_span(base)
        if _is_live_server_span(current):
            self._span = current
            return
        # A request arriving with a traceparent header joins the caller's
        # trace; one made inside a span of this process stays under it.
        parent: Context | None = base
        if _is_server_span(current):
            # The rest of the context (baggage) is kept; the stale span not.
            without = trace.set_span_in_context(trace.INVALID_SPAN, base)
            parent = propagate.extract(
                self._request.META, context=without, getter=_META_GETTER
            )
        elif not current.get_span_context().is_valid:
            parent = propagate.extract(self._request.META, getter=_META_GETTER)
        method = method_of(self._request)
        span = self._tracer.start_span(
            "HTTP" if method == "OTHER" else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                attr.HTTP_REQUEST_METHOD: "_OTHER" if method == "OTHER" else method,
                attr.URL_SCHEME: self._request.scheme or "http",
            },
        )
        self._span = span
        self._own = True
        self._parent = context.get_current()
        self._token = context.attach(trace.set_span_in_context(span, parent))

    def _end(self, exc: BaseException | None) -> None:
        span = self._span
        if span is None:
            return
        if is_unmonitored_view(self._request):
            self._drop()
            return
        route = route_of(self._request)
        if not self._own:
            existing = getattr(span, "attributes", None) or {}
            if route != UNMATCHED_ROUTE and attr.HTTP_ROUTE not in existing:
                span.set_attribute(attr.HTTP_ROUTE, route)
            return
        try:
            self._describe(span, route, exc)
        finally:
            try:
                span.end()
            finally:
                # Same frame as the attach, so the token is this context's;
                # it also undoes anything an inner block left current, and
                # leave() drops an ended block the restored context holds.
                token, self._token = self._token, None
                leave(token, self._parent)

    def _drop(self) -> None:
        """Stop the span being current without ending it: it is never exported.

        The SDK hands a span to its processors' ``on_end``, where the
        exporting ones export it, only from ``Span.end()``; a span never
        ended is forgotten. A span of another instrumentation is left as it
        is, without ``http.route``.
        """
        if self._own:
            token, self._token = self._token, None
            leave(token, self._parent)

    def _describe(self, span: Span, route: str, exc: BaseException | None) -> None:
        method = method_of(self._request)
        label = "HTTP" if method == "OTHER" else method
        if route != UNMATCHED_ROUTE:
            span.set_attribute(attr.HTTP_ROUTE, route)
            span.update_name(f"{label} {route}")
        status = None if self._response is None else int(self._response.status_code)
        if isinstance(exc, asyncio.CancelledError):
            # Reported as the monitor records it. A 4xx on a SERVER span
            # leaves its status unset in the conventions: the client's doing.
            status, exc = CLIENT_CLOSED_STATUS, None
        if status is not None:
            span.set_attribute(attr.HTTP_RESPONSE_STATUS_CODE, status)
        # 4xx is the client's error, not the server's (Http404 included).
        if exc is not None:
            _mark_failed(span, error_type_name(type(exc)))
        elif status is not None and status >= 500:
            noted = getattr(self._request, _ERROR_ATTR, None)
            _mark_failed(span, noted if isinstance(noted, str) else str(status))
