"""Tests for perfprobe.middleware: requests recorded by route, each its own scope."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import resolve
from pytest_django import Settings

from apps.shop.latency import NOMINAL_LATENCY_S, set_latency_scale
from apps.shop.models import Order
from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.aggregates import ScopeSummary
from perfprobe.events import QueryEvent, RequestEvent
from perfprobe.middleware import (
    CLIENT_CLOSED_STATUS,
    UNMATCHED_ROUTE,
    PerformanceMiddleware,
    route_of,
)

from . import middleware_urls

# Each test runs through the C path and the Python code (see conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]

TEST_URLS = "tests.perfprobe.middleware_urls"


def get_async(path: str, **client_options: Any) -> HttpResponseBase:
    """Send a GET through Django's ASGI handler and return the response."""
    return async_to_sync(AsyncClient(**client_options).get)(path)


@pytest.fixture
def test_urls(settings: Settings) -> None:
    """Serve the small views of ``middleware_urls`` instead of the demo's."""
    settings.ROOT_URLCONF = TEST_URLS


@pytest.fixture
def lenient_client() -> Client:
    """Return a test client that answers an unhandled exception with a 500."""
    return Client(raise_request_exception=False)


@pytest.fixture
def shop_order_pk() -> int:
    """Fill the shop with its sample data and return the first order's id."""
    ensure_sample_data()
    order = Order.objects.order_by("pk").first()
    assert order is not None
    return order.pk


@pytest.fixture
def thread_barrier() -> Iterator[Callable[[int], threading.Barrier]]:
    """Install a barrier that the test views wait at; remove it afterwards."""

    def install(parties: int) -> threading.Barrier:
        middleware_urls.barrier = threading.Barrier(parties)
        return middleware_urls.barrier

    yield install
    middleware_urls.barrier = None


@pytest.fixture
def async_barrier() -> Iterator[Callable[[int], asyncio.Barrier]]:
    """Install an asyncio barrier for the async test views; remove it afterwards."""

    def install(parties: int) -> asyncio.Barrier:
        middleware_urls.async_barrier = asyncio.Barrier(parties)
        return middleware_urls.async_barrier

    yield install
    middleware_urls.async_barrier = None


def request_events(mon: PerformanceMonitor) -> list[RequestEvent]:
    """Return the request events the monitor holds, oldest first."""
    events = mon.collector.snapshot().recent_events
    return [event for event in events if isinstance(event, RequestEvent)]


def request_scopes(mon: PerformanceMonitor) -> list[ScopeSummary]:
    """Return the summaries of closed request scopes, oldest first."""
    return [s for s in mon.collector.snapshot().scopes if s.kind == "request"]


def shape(summary: ScopeSummary) -> tuple[int, list[int]]:
    """Return a scope's query count and the size of each of its N+1 findings."""
    return summary.query_count, [f.count for f in summary.n_plus_one]


# -- route, method and status ---------------------------------------------------


def test_route_of_a_request_that_matched_nothing_is_unmatched() -> None:
    """A request without a resolver match is filed under the unmatched bucket."""
    assert route_of(RequestFactory().get("/api/orders/17/")) == UNMATCHED_ROUTE


def test_endpoint_is_recorded_by_route_pattern_not_path(
    fresh_monitor: PerformanceMonitor, client: Client, shop_order_pk: int
) -> None:
    """Two orders' URLs count as one endpoint named by its pattern."""
    for pk in (shop_order_pk, shop_order_pk + 1):
        assert client.get(f"/api/orders/{pk}/").status_code == 200

    endpoints = fresh_monitor.collector.snapshot().endpoints
    assert list(endpoints) == [("GET", "/api/orders/<int:pk>/")]
    assert endpoints["GET", "/api/orders/<int:pk>/"]["stats"].count == 2
    assert endpoints["GET", "/api/orders/<int:pk>/"]["statuses"] == {200: 2}
    routes = {event.route for event in request_events(fresh_monitor)}
    assert routes == {"/api/orders/<int:pk>/"}


def test_method_and_status_are_part_of_the_record(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """GET and POST of one route are separate endpoints, each with its status."""
    assert client.get("/items/5/").status_code == 200
    assert client.post("/items/5/").status_code == 200
    assert client.get("/items/6/").status_code == 200

    endpoints = fresh_monitor.collector.snapshot().endpoints
    assert sorted(endpoints) == [
        ("GET", "/items/<int:pk>/"),
        ("POST", "/items/<int:pk>/"),
    ]
    assert endpoints["GET", "/items/<int:pk>/"]["statuses"] == {200: 2}
    assert endpoints["POST", "/items/<int:pk>/"]["statuses"] == {200: 1}
    (first, second, third) = request_events(fresh_monitor)
    assert (first.method, second.method, third.method) == ("GET", "POST", "GET")


def test_a_view_404_keeps_its_route(
    fresh_monitor: PerformanceMonitor, client: Client, db: None
) -> None:
    """A matched route whose view answers 404 is still filed under its pattern."""
    response = client.get("/api/orders/1000000000/")

    assert response.status_code == 404
    (event,) = request_events(fresh_monitor)
    assert (event.route, event.status) == ("/api/orders/<int:pk>/", 404)


@pytest.mark.parametrize("path", ["/nowhere/17/", "/api/orders/abc/", "/api/"])
def test_unmatched_urls_share_one_bucket(
    fresh_monitor: PerformanceMonitor, client: Client, path: str
) -> None:
    """A URL that matches no pattern is recorded as unmatched, never by path."""
    response = client.get(path)

    assert response.status_code == 404
    endpoints = fresh_monitor.collector.snapshot().endpoints
    assert list(endpoints) == [("GET", UNMATCHED_ROUTE)]
    (event,) = request_events(fresh_monitor)
    assert (event.route, event.status) == (UNMATCHED_ROUTE, 404)


# -- duration and queries --------------------------------------------------------


def test_duration_covers_a_known_sleep(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """A view that sleeps 50 ms is recorded as taking at least that long."""
    client.get("/sleepy/")

    (event,) = request_events(fresh_monitor)
    assert middleware_urls.SLEEP_S <= event.duration_s < middleware_urls.SLEEP_S + 1
    summary = fresh_monitor.collector.snapshot().endpoints["GET", "/sleepy/"]
    assert summary["stats"].count == 1
    assert summary["stats"].max == event.duration_s


def test_duration_and_query_time_follow_the_latency_scale(
    fresh_monitor: PerformanceMonitor, client: Client, shop_order_pk: int
) -> None:
    """At scale 1 the order endpoint spends its nominal 50 ms inside its queries."""
    set_latency_scale(1.0)
    nominal_s = NOMINAL_LATENCY_S["order-detail"]

    assert client.get(f"/api/orders/{shop_order_pk}/").status_code == 200

    (event,) = request_events(fresh_monitor)
    assert event.query_count == 2
    assert nominal_s <= event.query_time_s <= event.duration_s < nominal_s + 1


def test_query_count_is_exact(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """A view that runs three queries is recorded with a query count of three."""
    client.get("/three/")
    client.get("/three/")

    events = request_events(fresh_monitor)
    assert [event.query_count for event in events] == [3, 3]
    assert all(event.query_time_s > 0 for event in events)
    counts = fresh_monitor.collector.snapshot().endpoints["GET", "/three/"]
    assert counts["query_counts"].total == 6
    assert [s.query_count for s in request_scopes(fresh_monitor)] == [3, 3]


# -- scopes ------------------------------------------------------------------------


def test_each_request_is_its_own_named_scope(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """Sequential requests close one scope each, named by method and route."""
    client.get("/three/")
    client.get("/items/3/")

    scopes = request_scopes(fresh_monitor)
    assert [(s.name, s.query_count) for s in scopes] == [
        ("GET /three/", 3),
        ("GET /items/<int:pk>/", 1),
    ]
    assert len({s.id for s in scopes}) == 2
    assert [e.scope for e in request_events(fresh_monitor)] == [
        "GET /three/",
        "GET /items/<int:pk>/",
    ]


def test_a_quiet_request_keeps_its_own_scope_id_start_and_name(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """Summaries and events of requests with nothing recorded match their scopes."""
    middleware_urls.quiet_scopes.clear()
    before_s = time.time()
    client.get("/quiet/")
    client.get("/quiet/")
    after_s = time.time()

    seen = middleware_urls.quiet_scopes
    scopes = request_scopes(fresh_monitor)
    assert [(s.id, s.started_at, s.name, s.path) for s in scopes] == [
        (scope_id, started_at, "GET /quiet/", "GET /quiet/")
        for scope_id, started_at in seen
    ]
    events = request_events(fresh_monitor)
    assert [(e.started_at, e.scope) for e in events] == [
        (started_at, "GET /quiet/") for _, started_at in seen
    ]
    assert seen[0][0] != seen[1][0]
    assert before_s <= seen[0][1] <= seen[1][1] <= after_s


def test_a_request_inside_a_user_scope_is_its_child(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """The enclosing scope counts the request and its queries; the path nests."""
    with fresh_monitor.scope("batch") as batch:
        client.get("/three/")

    (request_scope,) = request_scopes(fresh_monitor)
    assert request_scope.path == "batch/GET /three/"
    assert batch.summary.request_count == 1
    assert batch.summary.query_count == 3


def test_queries_inside_a_request_carry_its_route(
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Callable[[], list[QueryEvent]],
    client: Client,
    test_urls: None,
) -> None:
    """The scope is named once the URL resolves, so the view's queries say where."""
    client.get("/three/")

    assert [q.scope for q in recorded_queries()] == ["GET /three/"] * 3
    slowest = fresh_monitor.collector.snapshot().slowest_queries
    assert {q.scope for q in slowest} == {"GET /three/"}


def test_queries_inside_an_async_request_carry_its_route(
    recorded_queries: Callable[[], list[QueryEvent]], test_urls: None
) -> None:
    """Through the async chain too, the view's queries are filed under the route."""

    get_async("/async/count/2/")

    scopes = [q.scope for q in recorded_queries()]
    assert scopes == ["GET /async/count/<int:count>/"] * 2


def test_concurrent_requests_in_threads_keep_their_own_counts(
    fresh_monitor: PerformanceMonitor,
    test_urls: None,
    thread_barrier: Callable[[int], threading.Barrier],
) -> None:
    """Two requests in flight at once each count only their own queries and N+1."""
    thread_barrier(2)
    statuses: dict[int, int] = {}
    expected: dict[int, int] = {}

    def get(count: int) -> None:
        try:
            expected[threading.get_ident()] = count
            response = Client(raise_request_exception=False).get(f"/count/{count}/")
            statuses[count] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=get, args=(n,)) for n in (4, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == {4: 200, 6: 200}
    counts = {e.thread_id: e.query_count for e in request_events(fresh_monitor)}
    assert counts == expected
    # Five or more queries of one shape with differing parameters are an N+1:
    # only the six-query request has one, and it holds exactly its six.
    shapes = sorted(shape(s) for s in request_scopes(fresh_monitor))
    assert shapes == [(4, []), (6, [6])]


# -- errors --------------------------------------------------------------------


def test_a_view_exception_is_a_500_with_its_type(
    fresh_monitor: PerformanceMonitor, lenient_client: Client, test_urls: None
) -> None:
    """A view raising KeyError is recorded as status 500, KeyError, one error."""
    response = lenient_client.get("/boom/")

    assert response.status_code == 500
    (event,) = request_events(fresh_monitor)
    assert (event.status, event.error_type, event.query_count) == (500, "KeyError", 1)
    snapshot = fresh_monitor.collector.snapshot()
    endpoint = snapshot.endpoints["GET", "/boom/"]
    assert endpoint["statuses"] == {500: 1}
    assert endpoint["errors"] == {"KeyError": 1}
    assert snapshot.error_counts == {("request", "GET /boom/", "KeyError"): 1}
    (error,) = snapshot.errors
    assert (error.source, error.detail) == ("request", "status 500")
    # Where the view raised: the `raise KeyError` line of the test views.
    source = Path(__file__).with_name("middleware_urls.py").read_text().splitlines()
    raise_line = source.index('    raise KeyError("missing")') + 1
    expected = f"tests/perfprobe/middleware_urls.py:{raise_line}"
    assert event.raised_at == error.raised_at == expected


def test_the_shop_invoice_bug_is_recorded_as_a_key_error(
    fresh_monitor: PerformanceMonitor, lenient_client: Client, shop_order_pk: int
) -> None:
    """The demo's failing invoice endpoint is a 500 filed under its pattern."""
    response = lenient_client.get(f"/api/orders/{shop_order_pk}/invoice/")

    assert response.status_code == 500
    (event,) = request_events(fresh_monitor)
    assert event.route == "/api/orders/<int:pk>/invoice/"
    assert (event.status, event.error_type) == (500, "KeyError")


def test_a_broken_collector_does_not_break_the_response(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    test_urls: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure while recording is logged and the response still reaches the user."""

    def broken(scope: Any, request: Any) -> None:
        raise RuntimeError("collector bug")

    monkeypatch.setattr(fresh_monitor.collector, "request_ended", broken)

    with caplog.at_level(logging.ERROR, logger="perfprobe.request"):
        response = client.get("/three/")

    assert response.status_code == 200
    assert response.content == b"three"
    (record,) = [r for r in caplog.records if r.name == "perfprobe.request"]
    assert record.getMessage().startswith("perfprobe failed to record a request")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


# -- settings ------------------------------------------------------------------


def test_query_strings_are_not_stored_by_default(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """The query string, which may hold tokens, is left out unless asked for."""
    client.get("/three/?token=s3cret&page=2")

    (event,) = request_events(fresh_monitor)
    assert event.query_string is None
    assert "query_string" not in event.to_dict()


def test_query_strings_are_stored_when_asked(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    test_urls: None,
    settings: Settings,
) -> None:
    """With STORE_QUERY_STRINGS the raw query string is kept with the request."""
    settings.PERFPROBE = {"STORE_QUERY_STRINGS": True}
    fresh_monitor.reset()

    client.get("/three/?token=s3cret&page=2")
    client.get("/three/")

    first, second = request_events(fresh_monitor)
    assert first.query_string == "token=s3cret&page=2"
    assert first.route == "/three/"
    assert second.query_string is None


def test_disabled_monitor_records_nothing(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    test_urls: None,
    settings: Settings,
) -> None:
    """With ENABLED off no request, query or scope is recorded at all."""
    settings.PERFPROBE = {"ENABLED": False}
    fresh_monitor.reset()

    response = client.get("/three/")

    assert response.status_code == 200
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.endpoints == {}
    assert snapshot.queries == {}
    assert snapshot.scopes == []
    assert snapshot.recent_events == []


# -- async -----------------------------------------------------------------------


def test_async_client_records_route_status_and_queries(
    fresh_monitor: PerformanceMonitor, test_urls: None
) -> None:
    """Through the ASGI handler a request is recorded just as through WSGI."""

    response = get_async("/async/count/3/")

    assert response.status_code == 200
    (event,) = request_events(fresh_monitor)
    assert (event.method, event.route) == ("GET", "/async/count/<int:count>/")
    assert (event.status, event.query_count) == (200, 3)
    (scope,) = request_scopes(fresh_monitor)
    assert scope.name == "GET /async/count/<int:count>/"


def test_async_client_with_a_sync_view(
    fresh_monitor: PerformanceMonitor, test_urls: None
) -> None:
    """A sync view behind the async chain still has its queries in its scope."""

    response = get_async("/three/")

    assert response.status_code == 200
    (event,) = request_events(fresh_monitor)
    assert (event.route, event.query_count) == ("/three/", 3)


def test_async_view_exception_is_a_500_with_its_type(
    fresh_monitor: PerformanceMonitor, test_urls: None
) -> None:
    """An exception in a view served through the async chain is still recorded."""

    response = get_async("/boom/", raise_request_exception=False)

    assert response.status_code == 500
    (event,) = request_events(fresh_monitor)
    assert (event.status, event.error_type) == (500, "KeyError")


def test_concurrent_async_requests_see_only_their_own_queries(
    fresh_monitor: PerformanceMonitor,
    test_urls: None,
    async_barrier: Callable[[int], asyncio.Barrier],
) -> None:
    """Two async requests interleaved by a barrier keep their queries apart."""

    async def both() -> list[HttpResponseBase]:
        async_barrier(2)
        client = AsyncClient(raise_request_exception=False)
        return list(
            await asyncio.gather(
                client.get("/async/count/4/"), client.get("/async/count/6/")
            )
        )

    responses = async_to_sync(both)()

    assert [r.status_code for r in responses] == [200, 200]
    counts = sorted(e.query_count for e in request_events(fresh_monitor))
    assert counts == [4, 6]
    shapes = sorted(shape(s) for s in request_scopes(fresh_monitor))
    assert shapes == [(4, []), (6, [6])]


def async_chain(
    view: Callable[[HttpRequest], Awaitable[HttpResponse]],
) -> PerformanceMiddleware:
    """Return the middleware on an async get_response that acts as Django's.

    Like the handler, it resolves the URL before the view.
    """

    async def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve(request.path_info, urlconf=TEST_URLS)
        return await view(request)

    middleware = PerformanceMiddleware(get_response)
    return middleware


def test_middleware_with_async_get_response_is_a_coroutine_function(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Built on an async get_response the middleware is async and records the call."""

    async def view(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        return HttpResponse(status=201)

    middleware = async_chain(view)

    assert iscoroutinefunction(middleware)
    # No view hook: Django would run a sync one through sync_to_async.
    assert not hasattr(middleware, "process_view")
    response = asyncio.run(middleware(RequestFactory().post("/items/9/")))

    assert response.status_code == 201
    (event,) = request_events(fresh_monitor)
    assert (event.method, event.route, event.status) == (
        "POST",
        "/items/<int:pk>/",
        201,
    )


def test_an_async_request_cancelled_mid_view_is_recorded_as_499(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Cancelled as Django does on a disconnect, the request is recorded, not lost."""
    view_started = asyncio.Event()

    async def view(request: HttpRequest) -> HttpResponse:
        view_started.set()
        await asyncio.sleep(30)
        return HttpResponse()

    middleware = async_chain(view)

    async def cancel_mid_view() -> None:
        task = asyncio.ensure_future(middleware(RequestFactory().get("/items/4/")))
        await asyncio.wait_for(view_started.wait(), timeout=10)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_view())

    (event,) = request_events(fresh_monitor)
    assert (event.route, event.status, event.error_type) == (
        "/items/<int:pk>/",
        CLIENT_CLOSED_STATUS,
        None,
    )
    assert 0.05 <= event.duration_s < 10
    (scope,) = request_scopes(fresh_monitor)
    assert scope.name == "GET /items/<int:pk>/"
    assert fresh_monitor.collector.snapshot().error_counts == {}


def test_middleware_with_sync_get_response_is_not_a_coroutine_function(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Built on a sync get_response the middleware answers synchronously."""

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve(request.path_info, urlconf=TEST_URLS)
        return HttpResponse()

    middleware = PerformanceMiddleware(get_response)

    assert not iscoroutinefunction(middleware)
    assert not hasattr(middleware, "process_view")
    assert middleware(RequestFactory().get("/items/9/")).status_code == 200
    (event,) = request_events(fresh_monitor)
    assert event.route == "/items/<int:pk>/"


def test_concurrent_async_calls_of_one_middleware_keep_their_scopes(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Interleaved tasks through one async middleware each count their own work."""
    steps = {"/items/3/": 3, "/three/": 5}

    async def view(request: HttpRequest) -> HttpResponse:
        barrier = middleware_urls.async_barrier
        assert barrier is not None
        for index in range(steps[request.path]):
            async with fresh_monitor.measure_execution_time("step"):
                await asyncio.sleep(0)
            if index == 1:
                await asyncio.wait_for(barrier.wait(), timeout=10)
        return HttpResponse()

    middleware = async_chain(view)
    factory = RequestFactory()

    async def both() -> list[HttpResponse]:
        middleware_urls.async_barrier = asyncio.Barrier(2)
        try:
            return list(
                await asyncio.gather(*(middleware(factory.get(p)) for p in steps))
            )
        finally:
            middleware_urls.async_barrier = None

    responses = asyncio.run(both())

    assert [r.status_code for r in responses] == [200, 200]
    scopes = request_scopes(fresh_monitor)
    assert sorted((s.name, s.operation_count) for s in scopes) == [
        ("GET /items/<int:pk>/", 3),
        ("GET /three/", 5),
    ]
    operations = fresh_monitor.collector.snapshot().recent_events
    assert Counter(e.scope for e in operations if e.kind == "operation") == {
        "GET /items/<int:pk>/": 3,
        "GET /three/": 5,
    }


def test_an_invented_method_is_counted_as_other(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """A client's made-up method (or escape codes in it) is recorded as OTHER."""
    client.generic("BREW\x1b[2J", "/three/")
    (event,) = request_events(fresh_monitor)
    assert event.method == "OTHER"


def test_broken_settings_at_run_time_do_not_fail_requests(
    client: Client, test_urls: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A PERFPROBE value broken after start-up serves the request unmonitored."""
    with override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": -1}):
        response = client.get("/three/")
    assert response.status_code == 200
    assert "cannot read its settings" in caplog.text


def test_unmonitored_views_are_not_recorded(
    client: Client, fresh_monitor: PerformanceMonitor
) -> None:
    """Requests served by an ``@unmonitored`` view (the report) are not traffic."""
    with override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"]):
        assert client.get("/perfprobe/report.json").status_code == 200
        assert client.get("/perfprobe/").status_code == 200
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.endpoints == {}
    # Nor do they leave a scope behind in the history.
    assert snapshot.scopes == []
