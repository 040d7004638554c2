"""Correct under concurrency: overlapping requests, users' wrappers, double installs.

The requests go over real sockets to threaded WSGI servers: the demo's
loopback server (``apps.debugging.server``) and Django's live server. Each
request's known sleep and known query count is the ground truth; a
request's recorded duration must lie between its sleep and the round trip
its client measured, which contains it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.db import connections
from django.test import AsyncClient, Client
from django.test.testcases import LiveServerThread
from prometheus_client import REGISTRY
from pytest_django import Settings

from apps.debugging.client import HttpResult, request_json
from apps.debugging.server import LoopbackServer
from perfprobe import PerformanceMonitor
from perfprobe.db import installer, instrument
from perfprobe.events import QueryEvent, RequestEvent
from perfprobe.prometheus import runtime as prometheus_runtime

from . import concurrency_urls
from .concurrency_urls import SPECS

URLS = "tests.perfprobe.concurrency_urls"
MIDDLEWARE = "perfprobe.middleware.PerformanceMiddleware"
USER_MIDDLEWARE = "tests.perfprobe.concurrency_urls.UserWrapperMiddleware"
#: Rounds of overlapping requests per server in the default run.
ROUNDS = 3

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def concurrency_views(settings: Settings) -> Iterator[None]:
    """Serve the concurrency views; clear the barrier and the user's counts."""
    settings.ROOT_URLCONF = URLS
    concurrency_urls.user_seen.clear()
    yield
    concurrency_urls.barrier = None
    concurrency_urls.user_seen.clear()


@pytest.fixture
def serve() -> Iterator[Callable[[str], str]]:
    """Return a function that starts the named threaded server and gives its URL.

    ``loopback`` is the demo's server; ``live`` is Django's own
    ``LiveServerThread``, the server of ``LiveServerTestCase``.
    """
    stops: list[Callable[[], None]] = []

    def start(kind: str) -> str:
        if kind == "live":
            # Served without the static files handler: the demo sets no
            # STATIC_URL, which that handler cannot work without.
            live = LiveServerThread("127.0.0.1", lambda app: app)
            live.daemon = True
            live.start()
            live.is_ready.wait(timeout=30)
            if live.error:
                raise live.error
            stops.append(lambda: (live.terminate(), live.join(timeout=10)))
            return f"http://127.0.0.1:{live.port}"
        server = LoopbackServer()
        server.start()
        stops.append(server.stop)
        return server.base_url

    yield start
    for stop in stops:
        stop()


def request_events(monitor: PerformanceMonitor) -> list[RequestEvent]:
    """Return the requests the monitor recorded."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, RequestEvent)]


def query_events(monitor: PerformanceMonitor) -> list[QueryEvent]:
    """Return the queries the monitor recorded."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, QueryEvent)]


def overlapping_round(base_url: str) -> dict[str, HttpResult]:
    """Send one request per route at once; they meet at the views' barrier."""
    concurrency_urls.barrier = threading.Barrier(len(SPECS))
    results: dict[str, HttpResult] = {}

    def get(name: str) -> None:
        results[name] = request_json(base_url, "GET", f"/{name}/", timeout_s=30)

    threads = [threading.Thread(target=get, args=(name,)) for name in SPECS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def check_overlapping_rounds(
    monitor: PerformanceMonitor, base_url: str, rounds: int
) -> None:
    """Run ``rounds`` rounds of overlapping requests and check each request."""
    fresh_monitor = monitor
    for _ in range(rounds):
        fresh_monitor.reset()
        results = overlapping_round(base_url)

        # A server that served them one by one would have broken the barrier.
        assert {name: r.status for name, r in results.items()} == dict.fromkeys(
            SPECS, 200
        )
        events = {e.route: e for e in request_events(fresh_monitor)}
        assert sorted(events) == [f"/{name}/" for name in sorted(SPECS)]
        for name, (sleep_s, queries) in SPECS.items():
            event = events[f"/{name}/"]
            assert event.query_count == queries
            assert sleep_s <= event.duration_s <= results[name].duration_s
        assert len(query_events(fresh_monitor)) == sum(q for _, q in SPECS.values())
        # Each request was a thread of its own.
        assert len({e.thread_id for e in events.values()}) == len(SPECS)


@pytest.mark.parametrize("server", ["loopback", "live"])
def test_overlapping_requests_each_get_their_own_duration_and_query_count(
    fresh_monitor: PerformanceMonitor, serve: Callable[[str], str], server: str
) -> None:
    """Three requests in flight at once keep their own sleep and query count."""
    check_overlapping_rounds(fresh_monitor, serve(server), ROUNDS)


@pytest.mark.stress
@pytest.mark.parametrize("server", ["loopback", "live"])
def test_overlapping_requests_stay_apart_over_many_rounds(
    fresh_monitor: PerformanceMonitor, serve: Callable[[str], str], server: str
) -> None:
    """Fifty rounds of three overlapping requests: every one keeps its own figures."""
    check_overlapping_rounds(fresh_monitor, serve(server), 50)


# -- a user's own execute wrapper ---------------------------------------------------


def test_user_wrapper_around_each_new_threads_first_query_keeps_both_working(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """On the loopback server every request is a new thread opening a connection.

    Its first query runs inside the user's execute wrapper, which is where
    perfprobe instruments the new connection; both wrappers still see every
    query of every request.
    """
    settings.MIDDLEWARE = [MIDDLEWARE, USER_MIDDLEWARE]
    requests = 10
    _, queries = SPECS["a"]
    with LoopbackServer() as server:
        for _ in range(requests):
            result = request_json(server.base_url, "GET", "/a/", timeout_s=30)
            assert result.status == 200

    assert len(concurrency_urls.user_seen) == requests * queries
    assert len(query_events(fresh_monitor)) == requests * queries
    events = request_events(fresh_monitor)
    assert [e.query_count for e in events] == [queries] * requests


def test_user_wrapper_in_one_new_thread_keeps_both_working_on_later_requests(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """In one new thread, requests after the first (and reconnects) are seen by both."""
    settings.MIDDLEWARE = [MIDDLEWARE, USER_MIDDLEWARE]
    requests = 10
    _, queries = SPECS["a"]
    statuses: list[int] = []
    wrappers_after: list[list[Any]] = []

    def serve_in_new_thread() -> None:
        try:
            client = Client()
            for _ in range(requests):
                statuses.append(client.get("/a/").status_code)
                wrappers_after.append(list(connections["default"].execute_wrappers))
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve_in_new_thread)
    thread.start()
    thread.join(timeout=60)

    assert statuses == [200] * requests
    assert len(concurrency_urls.user_seen) == requests * queries
    assert len(query_events(fresh_monitor)) == requests * queries
    # Between requests only perfprobe's recorder stays, once: the user's
    # wrapper left with its block and took nothing else with it.
    assert all(w == [instrument.recorder] for w in wrappers_after)


def test_user_wrapper_added_for_good_before_the_first_query_stays_beside_perfprobe(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A wrapper appended to a new thread's connection before it opens runs on."""
    requests = 5
    _, queries = SPECS["a"]
    statuses: list[int] = []

    def serve_in_new_thread() -> None:
        try:
            connections["default"].execute_wrappers.append(
                concurrency_urls.user_wrapper
            )
            client = Client()
            for _ in range(requests):
                statuses.append(client.get("/a/").status_code)
        finally:
            connections["default"].execute_wrappers.remove(
                concurrency_urls.user_wrapper
            )
            connections.close_all()

    thread = threading.Thread(target=serve_in_new_thread)
    thread.start()
    thread.join(timeout=60)

    assert statuses == [200] * requests
    assert len(concurrency_urls.user_seen) == requests * queries
    assert len(query_events(fresh_monitor)) == requests * queries


# -- installed twice ----------------------------------------------------------------


@pytest.fixture
def exporter_detached_after() -> Iterator[None]:
    """Stop the exporter that ready() starts listening, after the test."""
    yield
    prometheus_runtime.uninstall()


@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
@pytest.mark.usefixtures("exporter_detached_after")
def test_installing_twice_never_double_counts(
    fresh_monitor: PerformanceMonitor, settings: Settings, handler: str
) -> None:
    """ready() and install() called again, two middleware entries: counted once."""
    settings.PERFPROBE = {"PROMETHEUS": True}
    settings.MIDDLEWARE = [MIDDLEWARE, MIDDLEWARE]
    config = apps.get_app_config("perfprobe")
    config.ready()
    config.ready()
    installer.install()
    installer.install()
    before = REGISTRY.get_sample_value(
        "perfprobe_http_request_duration_seconds_count",
        {"method": "GET", "route": "/a/", "status": "200"},
    )
    queries_before = REGISTRY.get_sample_value(
        "perfprobe_db_queries_total", {"alias": "default"}
    )

    requests = 4
    _, queries = SPECS["a"]
    for _ in range(requests):
        if handler == "asgi":
            response = async_to_sync(AsyncClient().get)("/a/")
        else:
            response = Client().get("/a/")
        assert response.status_code == 200

    events = request_events(fresh_monitor)
    assert [e.query_count for e in events] == [queries] * requests
    assert len(query_events(fresh_monitor)) == requests * queries
    summary = fresh_monitor.collector.snapshot()
    assert summary.endpoints["GET", "/a/"]["statuses"] == {200: requests}
    request_scopes = [s for s in summary.scopes if s.kind == "request"]
    assert [s.query_count for s in request_scopes] == [queries] * requests
    after = REGISTRY.get_sample_value(
        "perfprobe_http_request_duration_seconds_count",
        {"method": "GET", "route": "/a/", "status": "200"},
    )
    queries_after = REGISTRY.get_sample_value(
        "perfprobe_db_queries_total", {"alias": "default"}
    )
    assert (after or 0) - (before or 0) == requests
    assert (queries_after or 0) - (queries_before or 0) == requests * queries
