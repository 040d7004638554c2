"""Tests for perfprobe.tracing.spans: request, block and query spans, as exported."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client, RequestFactory
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import Span, SpanKind, StatusCode
from pytest_django import Settings

from perfprobe import PerformanceMonitor, tracing
from perfprobe.events import OperationEvent, QueryEvent, RequestEvent
from perfprobe.middleware import PerformanceMiddleware
from perfprobe.tracing import spans as tracing_spans

from . import tracing_urls
from .tracing_urls import SECRET

pytestmark = pytest.mark.django_db

# Hand-written from the conventions, for the backends the suite runs on.
DB_SYSTEM = {"sqlite": "sqlite", "postgresql": "postgresql"}[connection.vendor]
MISSING_TABLE_ERROR = {
    "sqlite": "django.db.utils.OperationalError",
    "postgresql": "django.db.utils.ProgrammingError",
}[connection.vendor]


@pytest.fixture
def exporter(
    span_exporter: InMemorySpanExporter, settings: Settings
) -> InMemorySpanExporter:
    """Capture spans of requests to the tracing tests' views."""
    settings.ROOT_URLCONF = "tests.perfprobe.tracing_urls"
    return span_exporter


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    """Return the spans called ``name``."""
    return [span for span in spans if span.name == name]


def only(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    """Return the one span called ``name``; fail if there are none or several."""
    (span,) = by_name(spans, name)
    return span


def span_id(span: ReadableSpan) -> int:
    """Return a span's own id."""
    assert span.context is not None
    return span.context.span_id


def parent_id(span: ReadableSpan) -> int | None:
    """Return the id of a span's parent, or ``None`` for a root span."""
    return None if span.parent is None else span.parent.span_id


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """Return the spans whose parent is ``parent``."""
    return [span for span in spans if parent_id(span) == span_id(parent)]


def test_request_block_and_queries_nest_with_their_attributes(
    exporter: InMemorySpanExporter,
) -> None:
    """A view's block holds its three queries; the fourth is the request's own."""
    response = Client().get("/customers/42/")

    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    server = only(spans, "GET /customers/<int:pk>/")
    assert server.kind is SpanKind.SERVER
    assert parent_id(server) is None
    assert dict(server.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/customers/<int:pk>/",
        "http.response.status_code": 200,
        "url.scheme": "http",
    }
    assert server.status.status_code is StatusCode.UNSET

    block = only(spans, "load-customer")
    assert block.kind is SpanKind.INTERNAL
    assert parent_id(block) == span_id(server)
    assert dict(block.attributes or {}) == {"perfprobe.shop": "eu"}

    namespace = str(connection.settings_dict["NAME"])
    orm = only(spans, "SELECT shop_customer")
    assert orm.kind is SpanKind.CLIENT
    assert dict(orm.attributes or {}) == {
        "db.system.name": DB_SYSTEM,
        "db.query.text": (
            'SELECT "shop_customer"."id", "shop_customer"."name", '
            '"shop_customer"."email", "shop_customer"."created_at" '
            'FROM "shop_customer" WHERE "shop_customer"."email" = ? '
            'ORDER BY "shop_customer"."id" ASC LIMIT ?'
        ),
        "db.operation.name": "SELECT",
        "db.namespace": namespace,
        "db.collection.name": "shop_customer",
    }
    raw = by_name(spans, "SELECT")
    assert len(raw) == 3
    for span in raw:
        assert span.kind is SpanKind.CLIENT
        assert dict(span.attributes or {}) == {
            "db.system.name": DB_SYSTEM,
            "db.query.text": "SELECT ?",
            "db.operation.name": "SELECT",
            "db.namespace": namespace,
        }
    assert sorted(parent_id(s) for s in [orm, *raw]) == sorted(
        [span_id(block)] * 3 + [span_id(server)]
    )
    assert {span.context.trace_id for span in spans if span.context} == {
        server.context.trace_id if server.context else 0
    }


def test_spans_match_what_the_monitor_records(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """One span per recorded query; the request span lasts the view's known sleep."""
    Client().get("/nap/")

    events = fresh_monitor.collector.snapshot().recent_events
    queries = [e for e in events if isinstance(e, QueryEvent)]
    (request,) = [e for e in events if isinstance(e, RequestEvent)]
    spans = exporter.get_finished_spans()
    assert len([s for s in spans if s.kind is SpanKind.CLIENT]) == len(queries) == 1
    server = only(spans, "GET /nap/")
    assert server.start_time is not None and server.end_time is not None
    span_s = (server.end_time - server.start_time) / 1e9
    # The span starts after, and ends before, the monitor's own clock.
    assert tracing_urls.NAP_S <= span_s <= request.duration_s


def test_no_secret_reaches_any_span_attribute(
    exporter: InMemorySpanExporter,
) -> None:
    """A secret sent as cookie, header, query string and SQL appears nowhere."""
    client = Client(HTTP_X_API_KEY=SECRET, HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    client.cookies["sessionid"] = SECRET
    client.get(f"/customers/4242/?token={SECRET}")

    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    texts = [
        f"{key}={value}"
        for span in spans
        for key, value in (span.attributes or {}).items()
    ] + [span.name for span in spans]
    leaks = [t for t in texts if SECRET in t or "4242" in t or "token" in t]
    assert leaks == []
    assert not any(span.events for span in spans)


def test_raw_sql_is_the_query_text_only_when_parameters_are_stored(
    exporter: InMemorySpanExporter, settings: Settings
) -> None:
    """STORE_SQL_PARAMETERS puts raw SQL, literal and all, in db.query.text."""
    settings.PERFPROBE = {"STORE_SQL_PARAMETERS": True}
    Client().get("/customers/1/")

    texts = {
        (span.attributes or {}).get("db.query.text")
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.CLIENT
    }
    assert f"SELECT '{SECRET}'" in texts
    # Parameters stay out even so: the parameterised SQL keeps its %s.
    assert "SELECT %s" in texts
    assert not any(SECRET in str(v) for v in texts - {f"SELECT '{SECRET}'"})


def test_a_view_exception_makes_an_error_server_span(
    exporter: InMemorySpanExporter,
) -> None:
    """A view raising ValueError gives status 500, error.type ValueError, ERROR."""
    response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    server = only(exporter.get_finished_spans(), "GET /boom/")
    attributes = dict(server.attributes or {})
    assert attributes["http.response.status_code"] == 500
    assert attributes["error.type"] == "ValueError"
    assert server.status.status_code is StatusCode.ERROR
    assert SECRET not in (server.status.description or "")


def test_a_404_is_not_a_server_error(exporter: InMemorySpanExporter) -> None:
    """Http404 gives status 404 with no error.type and no ERROR status."""
    response = Client().get("/missing/")

    assert response.status_code == 404
    server = only(exporter.get_finished_spans(), "GET /missing/")
    assert "error.type" not in (server.attributes or {})
    assert server.status.status_code is StatusCode.UNSET


def test_an_unmatched_path_names_only_the_method(
    exporter: InMemorySpanExporter,
) -> None:
    """A request that matched no route is the span "GET", without http.route."""
    Client().get("/nowhere/at-all/")

    (server,) = exporter.get_finished_spans()
    assert server.name == "GET"
    assert "http.route" not in (server.attributes or {})
    assert (server.attributes or {})["http.response.status_code"] == 404


def test_a_failing_block_is_an_error_span_and_its_exception_passes(
    exporter: InMemorySpanExporter,
) -> None:
    """KeyError inside a block marks its span ERROR; the view still catches it."""
    response = Client().get("/fragile/")

    assert response.content == b"recovered"
    spans = exporter.get_finished_spans()
    block = only(spans, "fragile")
    assert block.status.status_code is StatusCode.ERROR
    assert dict(block.attributes or {}) == {"error.type": "KeyError"}
    server = only(spans, "GET /fragile/")
    assert server.status.status_code is StatusCode.UNSET


def test_a_block_outside_any_request_is_a_root_span_and_reraises_as_is(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """The block's own exception object leaves it; the span is a failed root."""
    error = RuntimeError("kept")
    with pytest.raises(RuntimeError) as caught:
        with fresh_monitor.measure_execution_time("job", tags={"batch": 3}):
            raise error

    assert caught.value is error
    (span,) = exporter.get_finished_spans()
    assert (span.name, parent_id(span), span.status.status_code) == (
        "job",
        None,
        StatusCode.ERROR,
    )
    assert dict(span.attributes or {}) == {
        "perfprobe.batch": "3",
        "error.type": "RuntimeError",
    }
    # The block's span is no longer current once it has ended.
    assert not trace.get_current_span().get_span_context().is_valid


def test_decorated_functions_nest_their_spans(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """A decorated function called in a block is a child of the block's span."""

    @fresh_monitor.measure_execution_time("inner")
    def inner() -> int:
        tracing_urls.run_queries(2)
        return 5

    with fresh_monitor.measure_execution_time("outer"):
        assert inner() == 5

    spans = exporter.get_finished_spans()
    outer, inner_span = only(spans, "outer"), only(spans, "inner")
    assert parent_id(inner_span) == span_id(outer)
    assert [parent_id(s) for s in by_name(spans, "SELECT")] == [span_id(inner_span)] * 2


def test_a_failing_query_is_an_error_span(exporter: InMemorySpanExporter) -> None:
    """A query on a missing table gets error.type and ERROR, under the request."""
    response = Client().get("/bad-query/")

    assert response.content == b"survived"
    spans = exporter.get_finished_spans()
    query = only(spans, "SELECT no_such_table")
    assert (query.attributes or {})["error.type"] == MISSING_TABLE_ERROR
    assert query.status.status_code is StatusCode.ERROR
    assert parent_id(query) == span_id(only(spans, "GET /bad-query/"))


def test_executemany_is_a_batch_span(exporter: InMemorySpanExporter) -> None:
    """Three parameter sets in one executemany are one BATCH span of size 3."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE batch_t (v INTEGER)")
        cursor.executemany("INSERT INTO batch_t (v) VALUES (%s)", [(1,), (2,), (3,)])

    span = only(exporter.get_finished_spans(), "BATCH INSERT batch_t")
    attributes = dict(span.attributes or {})
    assert attributes["db.operation.name"] == "BATCH INSERT"
    assert attributes["db.operation.batch.size"] == 3
    assert attributes["db.collection.name"] == "batch_t"


def test_a_traceparent_header_makes_the_request_a_child_of_the_caller(
    exporter: InMemorySpanExporter,
) -> None:
    """The server span takes trace id and parent span id from traceparent."""
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    Client(HTTP_TRACEPARENT=f"00-{trace_id}-{caller_span}-01").get("/missing/")

    (server,) = exporter.get_finished_spans()
    assert server.context is not None and server.parent is not None
    assert server.context.trace_id == int(trace_id, 16)
    assert server.parent.span_id == int(caller_span, 16)
    assert server.parent.is_remote


def test_an_existing_server_span_is_joined_not_duplicated(
    exporter: InMemorySpanExporter,
) -> None:
    """Under another instrumentation's SERVER span, perfprobe adds no second one."""
    tracer = trace.get_tracer("other-instrumentation", tracer_provider=provider_of())
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as outer:
        Client().get("/customers/3/")

    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET"]
    assert dict(servers[0].attributes or {}) == {"http.route": "/customers/<int:pk>/"}
    block = only(spans, "load-customer")
    assert parent_id(block) == outer.get_span_context().span_id


def provider_of() -> Any:
    """Return the provider the tracing module was pointed at by the fixture."""
    return tracing._provider_override


def test_concurrent_async_requests_keep_their_own_spans(
    exporter: InMemorySpanExporter,
) -> None:
    """Two interleaved async requests each hold exactly their own query spans."""

    async def both() -> list[Any]:
        tracing_urls.async_barrier = asyncio.Barrier(2)
        client = AsyncClient()
        try:
            return list(
                await asyncio.gather(
                    client.get("/async/left/"), client.get("/async/right/")
                )
            )
        finally:
            tracing_urls.async_barrier = None

    responses = async_to_sync(both)()

    assert [r.content for r in responses] == [b"4", b"6"]
    spans = exporter.get_finished_spans()
    for route, count in (("/async/left/", 4), ("/async/right/", 6)):
        server = only(spans, f"GET {route}")
        direct = children(spans, server)
        (block,) = [s for s in direct if s.name == "second-half"]
        queries = [s for s in direct if s.kind is SpanKind.CLIENT]
        assert len(queries) == count // 2
        assert len(children(spans, block)) == count - count // 2
        assert all(
            s.kind is SpanKind.CLIENT
            and s.context
            and server.context
            and s.context.trace_id == server.context.trace_id
            for s in children(spans, block)
        )
    assert len([s for s in spans if s.kind is SpanKind.CLIENT]) == 10


def test_a_generator_left_early_ends_its_span_and_leaves_no_span_current(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """Breaking out of a decorated generator ends its span and restores context."""

    @fresh_monitor.measure_execution_time("rows")
    def rows() -> Iterator[int]:
        yield from range(10)

    taken = []
    for row in rows():
        taken.append(row)
        if row == 2:
            break

    assert taken == [0, 1, 2]
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.status.status_code) == ("rows", StatusCode.UNSET)
    assert not trace.get_current_span().get_span_context().is_valid


class FailingOnEnd(SpanProcessor):
    """A span processor with a bug: it raises whenever a span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        """Raise, as a buggy processor would."""
        raise RuntimeError("processor bug")


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Return the finished SERVER spans."""
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


@pytest.fixture
def restore_context() -> Iterator[None]:
    """Undo whatever a failing test leaves current, so later tests start clean."""
    token = otel_context.attach(otel_context.Context())
    yield
    otel_context.detach(token)


def test_a_processor_failing_on_end_leaves_no_request_span_current(
    exporter: InMemorySpanExporter, restore_context: None
) -> None:
    """After a processor raises in on_end, every next request gets its own span."""
    provider_of().add_span_processor(FailingOnEnd())
    for _ in range(3):
        assert Client().get("/missing/").status_code == 404

    # The test client serves in this thread: nothing may be left current.
    assert not trace.get_current_span().get_span_context().is_valid
    # The in-memory exporter runs before the failing processor, so each span
    # was exported; three requests are three traces, none joined another.
    spans = server_spans(exporter)
    assert len(spans) == 3
    assert len({s.context.trace_id for s in spans if s.context}) == 3


def test_a_processor_failing_on_end_leaves_no_block_span_current(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """Outside a request (a command, a worker), a block's span never stays current."""
    provider_of().add_span_processor(FailingOnEnd())
    with fresh_monitor.measure_execution_time("nightly-step"):
        pass

    assert not trace.get_current_span().get_span_context().is_valid
    assert [s.name for s in exporter.get_finished_spans()] == ["nightly-step"]


def _raise(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("span method bug")


@pytest.mark.parametrize(
    "method", ["set_attribute", "set_status", "update_name", "end"]
)
def test_a_span_method_failing_leaves_no_span_current(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    restore_context: None,
    method: str,
) -> None:
    """Whichever span method raises while a span ends, its context is detached."""
    monkeypatch.setattr(SdkSpan, method, _raise)

    # A 500 with a route sets attributes, renames and sets the status.
    assert Client(raise_request_exception=False).get("/boom/").status_code == 500
    with pytest.raises(KeyError):
        with fresh_monitor.measure_execution_time("fragile"):
            raise KeyError("user's")

    assert not trace.get_current_span().get_span_context().is_valid
    # The monitor's own records are untouched by the tracing failure.
    events = fresh_monitor.collector.snapshot().recent_events
    assert [e.status for e in events if isinstance(e, RequestEvent)] == [500]
    assert [e.name for e in events if isinstance(e, OperationEvent)] == ["fragile"]


def test_an_ended_server_span_left_current_is_not_joined(
    exporter: InMemorySpanExporter, restore_context: None
) -> None:
    """An ended SERVER span left current is neither joined nor made a parent."""
    tracer = trace.get_tracer("leaky", tracer_provider=provider_of())
    stale = tracer.start_span("GET", kind=SpanKind.SERVER)
    stale.end()
    otel_context.attach(trace.set_span_in_context(stale))

    Client().get("/missing/")

    own = only(exporter.get_finished_spans(), "GET /missing/")
    assert own.kind is SpanKind.SERVER and own.parent is None
    assert own.context is not None
    assert own.context.trace_id != stale.get_span_context().trace_id


def test_a_client_disconnect_is_a_499_not_an_error_span(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """A cancelled request's span says 499 like the monitor, with no ERROR status."""

    async def get_response(request: object) -> None:
        raise asyncio.CancelledError

    async def main() -> object:
        middleware = PerformanceMiddleware(get_response)
        with pytest.raises(asyncio.CancelledError):
            await middleware(RequestFactory().get("/missing/"))
        return trace.get_current_span()

    current = asyncio.run(main())

    assert not cast(Span, current).get_span_context().is_valid
    (request,) = [
        e
        for e in fresh_monitor.collector.snapshot().recent_events
        if isinstance(e, RequestEvent)
    ]
    (server,) = server_spans(exporter)
    attributes = dict(server.attributes or {})
    assert request.status == attributes["http.response.status_code"] == 499
    assert "error.type" not in attributes
    assert server.status.status_code is StatusCode.UNSET


def test_a_cancelled_block_is_not_an_error_span(
    exporter: InMemorySpanExporter, fresh_monitor: PerformanceMonitor
) -> None:
    """An async block cancelled from outside ends with no ERROR and no error.type."""

    async def waiting() -> None:
        async with fresh_monitor.measure_execution_time("waiting"):
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(waiting())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    block = only(exporter.get_finished_spans(), "waiting")
    assert "error.type" not in (block.attributes or {})
    assert block.status.status_code is StatusCode.UNSET


def test_a_long_query_text_is_cut_visibly(exporter: InMemorySpanExporter) -> None:
    """db.query.text stops at MAX_QUERY_TEXT_CHARS, ending in an ellipsis."""
    column = "c" * 20_000
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 AS "{column}"')

    (query,) = exporter.get_finished_spans()
    text = str((query.attributes or {})["db.query.text"])
    # The fingerprint of the statement above, written out by hand.
    full = f'SELECT ? AS "{column}"'
    assert len(text) == tracing_spans.MAX_QUERY_TEXT_CHARS == 4096
    assert text == full[:4095] + "…"


def test_a_short_query_text_is_kept_whole(exporter: InMemorySpanExporter) -> None:
    """A statement of exactly MAX_QUERY_TEXT_CHARS characters is not cut."""
    column = "c" * (4096 - len('SELECT ? AS ""'))
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 AS "{column}"')

    (query,) = exporter.get_finished_spans()
    assert (query.attributes or {})["db.query.text"] == f'SELECT ? AS "{column}"'


def no_span_is_current() -> bool:
    """Return whether the current context holds no valid span."""
    return not trace.get_current_span().get_span_context().is_valid


def test_an_outer_block_left_before_a_suspended_inner_one_is_not_left_current(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """Enter outer, enter inner in a generator, leave outer, close it: none current."""

    def rows() -> Iterator[int]:
        with fresh_monitor.measure_execution_time("inner"):
            yield 1

    gen = rows()
    with fresh_monitor.measure_execution_time("outer"):
        next(gen)
    assert no_span_is_current()
    gen.close()

    assert no_span_is_current()
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["inner", "outer"]


def test_an_inner_block_closed_inside_a_later_one_leaves_no_span_current(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """Enter a generator's block, enter a second one, close the generator in it."""

    def rows() -> Iterator[int]:
        with fresh_monitor.measure_execution_time("first"):
            yield 1

    gen = rows()
    next(gen)
    with fresh_monitor.measure_execution_time("second"):
        gen.close()
        # The second block was started inside the first, now ended: like a
        # scope left out of order, it stops being current with it.
        assert no_span_is_current()
    assert no_span_is_current()


def test_a_later_request_is_not_filed_under_blocks_ended_out_of_order(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """After blocks ended out of order, the next request in the thread is a root."""

    def rows() -> Iterator[int]:
        with fresh_monitor.measure_execution_time("inner"):
            yield 1

    gen = rows()
    with fresh_monitor.measure_execution_time("outer"):
        next(gen)
    gen.close()
    exporter.clear()

    Client().get("/missing/")

    (server,) = server_spans(exporter)
    assert server.parent is None


def test_async_blocks_ended_out_of_order_leave_no_span_current(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """The same order with ``async with`` and an async generator, in one task."""

    async def rows() -> AsyncIterator[int]:
        async with fresh_monitor.measure_execution_time("inner"):
            yield 1

    async def main() -> bool:
        agen = rows()
        async with fresh_monitor.measure_execution_time("outer"):
            await anext(agen)
        await agen.aclose()
        return no_span_is_current()

    assert asyncio.run(main())
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["inner", "outer"]


def test_a_request_ending_after_its_enclosing_block_restores_no_dead_span(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """A block closed during a request started in it is not current after it."""

    def rows() -> Iterator[int]:
        with fresh_monitor.measure_execution_time("outer"):
            yield 1

    gen = rows()
    next(gen)
    with tracing.request_span(RequestFactory().get("/missing/")):
        gen.close()

    assert no_span_is_current()
    (server,) = server_spans(exporter)
    assert parent_id(server) == span_id(only(exporter.get_finished_spans(), "outer"))


def test_a_block_ended_in_another_context_parents_nothing_new_there(
    exporter: InMemorySpanExporter,
    fresh_monitor: PerformanceMonitor,
    restore_context: None,
) -> None:
    """Closed from elsewhere, a block left current in its context parents nothing."""

    def rows() -> Iterator[int]:
        with fresh_monitor.measure_execution_time("abandoned"):
            yield 1

    def later() -> None:
        with fresh_monitor.measure_execution_time("later"):
            pass
        Client().get("/missing/")

    elsewhere = contextvars.copy_context()
    gen = rows()
    elsewhere.run(next, gen)
    # Closed here, the block cannot be made not current in ``elsewhere``.
    gen.close()
    assert no_span_is_current()
    elsewhere.run(later)

    spans = exporter.get_finished_spans()
    assert only(spans, "later").parent is None
    (server,) = server_spans(exporter)
    assert server.parent is None
