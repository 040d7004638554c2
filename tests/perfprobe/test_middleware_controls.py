"""Tests for the middleware's production controls: switches, sampling, exclusions."""

from __future__ import annotations

import asyncio
import io
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import AsyncClient, Client
from pytest_django import Settings
from rich.console import Console

from perfprobe import PerformanceMonitor, sampling
from perfprobe.events import OperationEvent, QueryEvent, RequestEvent
from perfprobe.report.html import render_html
from perfprobe.report.schema import validate_report
from perfprobe.report.terminal import TerminalRenderer
from perfprobe.suppression import is_suppressed
from tests.perfprobe.middleware_urls import run_queries

# Each test runs through the C path and the Python code (see conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]

TEST_URLS = "tests.perfprobe.middleware_urls"


@pytest.fixture(autouse=True)
def test_urls(settings: Settings) -> None:
    """Serve the small views of ``middleware_urls``."""
    settings.ROOT_URLCONF = TEST_URLS


@pytest.fixture
def seeded_sampler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give the middleware a sampler with a fixed seed, for repeatable draws."""
    monkeypatch.setattr(sampling, "sampler", sampling.RequestSampler(random.Random(7)))
    yield


def use(settings: Settings, mon: PerformanceMonitor, **perfprobe: Any) -> None:
    """Set ``PERFPROBE`` to ``perfprobe`` and start the monitor afresh."""
    settings.PERFPROBE = perfprobe
    mon.reset()


def events_of(mon: PerformanceMonitor, kind: type[Any]) -> list[Any]:
    """Return the monitor's recent events of type ``kind``."""
    return [e for e in mon.collector.snapshot().recent_events if isinstance(e, kind)]


def get_async(path: str) -> Any:
    """Send a GET through Django's ASGI handler and return the response."""
    return async_to_sync(AsyncClient().get)(path)


def assert_nothing_recorded(mon: PerformanceMonitor) -> None:
    """Assert that no request, query, operation, memory record or scope was kept."""
    snapshot = mon.collector.snapshot()
    assert snapshot.endpoints == {}
    assert snapshot.queries == {}
    assert snapshot.operations == {}
    assert snapshot.memory == []
    assert snapshot.scopes == []
    assert snapshot.recent_events == []


# -- MONITOR_REQUESTS ------------------------------------------------------------


def test_monitor_requests_off_passes_requests_through(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Off, a request makes no request record or scope; its 3 queries still count."""
    use(settings, fresh_monitor, MONITOR_REQUESTS=False)

    response = client.get("/three/")

    assert (response.status_code, response.content) == (200, b"three")
    assert events_of(fresh_monitor, RequestEvent) == []
    assert fresh_monitor.collector.snapshot().scopes == []
    queries = events_of(fresh_monitor, QueryEvent)
    assert [q.scope for q in queries] == [None, None, None]


def test_monitor_requests_off_passes_async_requests_through(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """Through ASGI too, switched off, no request or scope is recorded."""
    use(settings, fresh_monitor, MONITOR_REQUESTS=False)

    response = get_async("/async/count/4/")

    assert response.status_code == 200
    assert events_of(fresh_monitor, RequestEvent) == []
    assert fresh_monitor.collector.snapshot().scopes == []
    assert len(events_of(fresh_monitor, QueryEvent)) == 4


def test_monitor_requests_follows_override_settings_live(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Switched off and on again without a reset, only the on request is kept."""
    settings.PERFPROBE = {"MONITOR_REQUESTS": False}
    client.get("/three/")
    settings.PERFPROBE = {}
    client.get("/items/5/")

    (event,) = events_of(fresh_monitor, RequestEvent)
    assert event.route == "/items/<int:pk>/"


# -- EXCLUDE_PATHS -----------------------------------------------------------------


def test_an_excluded_path_records_nothing_at_all(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """A health check under EXCLUDE_PATHS leaves no request, query or scope."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/health"])

    for _ in range(3):
        assert client.get("/health/").content == b"three"

    assert_nothing_recorded(fresh_monitor)
    assert fresh_monitor.collector.snapshot().skipped_requests == {"excluded": 3}


def test_an_excluded_path_leaves_other_paths_monitored(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Only the excluded prefix is left out: /three/ keeps its 3 queries."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/health/", "/timed/"])

    client.get("/health/")
    client.get("/timed/")
    client.get("/three/")

    (event,) = events_of(fresh_monitor, RequestEvent)
    assert (event.route, event.query_count) == ("/three/", 3)
    assert len(events_of(fresh_monitor, QueryEvent)) == 3
    assert events_of(fresh_monitor, OperationEvent) == []
    assert fresh_monitor.collector.snapshot().memory == []


def test_an_excluded_async_request_records_nothing(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """An excluded request through ASGI, with an async view, records nothing."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/async/"])

    assert get_async("/async/timed/4/").status_code == 200
    assert get_async("/async/count/4/").status_code == 200

    assert_nothing_recorded(fresh_monitor)


def test_the_mark_is_reset_after_an_excluded_request_that_raised(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """A view exception under an excluded path leaves this context monitored."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/boom/"])

    with pytest.raises(KeyError):
        Client().get("/boom/")
    assert not is_suppressed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    (query,) = events_of(fresh_monitor, QueryEvent)
    assert query.fingerprint == "SELECT ?"


# -- SAMPLE_RATE -------------------------------------------------------------------


def test_sampled_requests_are_recorded_whole_and_the_rest_not_at_all(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    settings: Settings,
    seeded_sampler: None,
) -> None:
    """At rate 0.5 of 40 requests, each kept request brings its 3 queries only."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.5)

    for _ in range(40):
        assert client.get("/three/").status_code == 200

    requests = events_of(fresh_monitor, RequestEvent)
    skipped = fresh_monitor.collector.snapshot().skipped_requests
    assert len(requests) + skipped["not_sampled"] == 40
    # Binomial(40, 0.5): both outcomes occur (0 or 40 has probability 2e-12).
    assert 0 < len(requests) < 40
    assert all(r.query_count == 3 for r in requests)
    assert len(events_of(fresh_monitor, QueryEvent)) == 3 * len(requests)
    assert len(fresh_monitor.collector.snapshot().scopes) == len(requests)


def test_the_same_seed_samples_the_same_requests(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Two runs with one seed keep the same requests: the decision is the sampler's."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.3)

    def kept_items(seed: int) -> list[int]:
        fresh_monitor.reset()
        sampling.sampler = sampling.RequestSampler(random.Random(seed))
        for pk in range(30):
            client.get(f"/items/{pk}/")
        return [q.params_hash for q in events_of(fresh_monitor, QueryEvent)]

    saved = sampling.sampler
    try:
        first, again, other = kept_items(11), kept_items(11), kept_items(12)
    finally:
        sampling.sampler = saved
    assert first == again
    assert first != other


def test_sample_rate_zero_records_no_request(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """At rate 0 every request is counted as not sampled and nothing is kept."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.0)

    for _ in range(5):
        client.get("/timed/")

    assert_nothing_recorded(fresh_monitor)
    assert fresh_monitor.collector.snapshot().skipped_requests == {"not_sampled": 5}


def test_unmonitored_views_left_out_by_sampling_count_as_unmonitored_views(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """At rate 0, requests to an unmonitored view count as such, not as unsampled.

    Reading the report while sampling must not inflate the not-sampled count.
    """
    use(settings, fresh_monitor, SAMPLE_RATE=0.0)

    for _ in range(3):
        client.get("/hidden/")
    client.get("/three/")
    client.get("/async/hidden/")

    assert fresh_monitor.collector.snapshot().skipped_requests == {
        "not_sampled": 1,
        "unmonitored_view": 4,
    }


def test_the_report_says_which_sample_rate_was_in_effect(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """With rate 0 and one excluded path, the report states the rate and the counts."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.0, EXCLUDE_PATHS=["/health/"])
    for _ in range(4):
        client.get("/three/")
    client.get("/health/")

    report = fresh_monitor.generate_report()

    assert report.settings["sampling"] == {
        "monitor_requests": True,
        "sample_rate": 0.0,
        "requests_not_sampled": 4,
        "requests_excluded": 1,
        "requests_unmonitored_views": 0,
    }
    note = report.settings["sampling_note"]
    assert "sampled at rate 0" in note
    assert "4 not sampled, 1 under EXCLUDE_PATHS" in note
    validate_report(report.to_dict())
    assert note in report.to_json()
    text = io.StringIO()
    TerminalRenderer(Console(file=text, width=300)).render(report)
    assert "4 not sampled" in text.getvalue()
    assert "4 not sampled" in render_html(report)


def test_a_full_sample_rate_is_stated_too(fresh_monitor: PerformanceMonitor) -> None:
    """With the defaults the report says every request is monitored."""
    report = fresh_monitor.generate_report()
    assert report.settings["sampling"]["sample_rate"] == 1.0
    assert report.settings["sampling_note"] == (
        "Every request is monitored (sample rate 1)."
    )


def test_requests_left_out_at_a_full_rate_are_not_contradicted(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """At rate 1, requests to perfprobe's own page are left out, and said so.

    The note read "Every request is monitored (sample rate 1); requests left
    out: 1 to unmonitored views", which a new user took for a contradiction.
    """
    settings.ROOT_URLCONF = "demo_site.urls"
    settings.DEBUG = True
    settings.INTERNAL_IPS = ["127.0.0.1"]
    assert Client().get("/perfprobe/report.json").status_code == 200
    report = fresh_monitor.generate_report()
    assert report.settings["sampling"]["requests_unmonitored_views"] == 1
    assert report.settings["sampling_note"] == (
        "Every request is monitored (sample rate 1) but those left out: 1 to "
        "views marked unmonitored (perfprobe's own pages are)."
    )


# -- unmonitored views --------------------------------------------------------------


def test_an_unmonitored_view_leaves_no_trace(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """A view marked unmonitored: its 2 queries, timer and memory block are not kept."""
    response = client.get("/hidden/")

    assert response.content == b"hidden"
    assert_nothing_recorded(fresh_monitor)
    skipped = fresh_monitor.collector.snapshot().skipped_requests
    assert skipped == {"unmonitored_view": 1}
    assert not is_suppressed()


def test_an_unmonitored_async_view_leaves_no_trace(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Through ASGI an unmonitored async view's queries and timer are not kept."""
    response = get_async("/async/hidden/")

    assert response.content == b"hidden"
    assert_nothing_recorded(fresh_monitor)


def test_a_scope_opened_before_the_url_is_resolved_follows_an_unmonitored_view(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """A middleware's scope around the view: its 2 queries, timer, block not kept.

    The scope is opened before anyone knows that the view is unmonitored,
    and it is the current scope, hence the mark, while the view runs.
    """
    settings.MIDDLEWARE = [
        "perfprobe.middleware.PerformanceMiddleware",
        "tests.perfprobe.middleware_urls.ScopedMiddleware",
    ]

    response = client.get("/hidden/")

    assert response.content == b"hidden"
    snapshot = fresh_monitor.collector.snapshot()
    assert (snapshot.queries, snapshot.operations, snapshot.memory) == ({}, {}, [])
    assert snapshot.endpoints == {}
    # Nor the scope itself, whose summary would name the hidden route.
    assert (snapshot.scopes, snapshot.scopes_closed) == ([], 0)
    assert snapshot.skipped_requests == {"unmonitored_view": 1}
    assert not is_suppressed()


TWICE_AROUND_A_SCOPE = [
    "perfprobe.middleware.PerformanceMiddleware",
    "tests.perfprobe.middleware_urls.ScopedMiddleware",
    "perfprobe.middleware.PerformanceMiddleware",
]


def test_a_second_entry_below_a_scope_records_the_request_once(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Two entries with a scope between them: one request of 3 queries, once."""
    settings.MIDDLEWARE = TWICE_AROUND_A_SCOPE

    assert client.get("/three/").content == b"three"

    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.endpoints[("GET", "/three/")]["statuses"] == {200: 1}
    (event,) = events_of(fresh_monitor, RequestEvent)
    assert event.query_count == 3
    assert [s.path for s in snapshot.scopes] == [
        "GET /three//wrapped",
        "GET /three/",
    ]


def test_a_second_entry_leaves_an_excluded_request_out_once(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Two entries and a path under EXCLUDE_PATHS: counted once as excluded."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/health"])
    settings.MIDDLEWARE = TWICE_AROUND_A_SCOPE

    assert client.get("/health/").content == b"three"

    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.skipped_requests == {"excluded": 1}
    assert (snapshot.endpoints, snapshot.queries) == ({}, {})


def test_requests_around_an_unmonitored_one_are_recorded(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """Before and after the hidden view, requests keep their own queries."""
    client.get("/three/")
    client.get("/hidden/")
    client.get("/timed/")

    routes = [(e.route, e.query_count) for e in events_of(fresh_monitor, RequestEvent)]
    assert routes == [("/three/", 3), ("/timed/", 1)]
    assert len(events_of(fresh_monitor, QueryEvent)) == 4
    assert [op.name for op in events_of(fresh_monitor, OperationEvent)] == [
        "timed-step"
    ]


def test_the_live_report_does_not_count_itself(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Reading report.json twice shows no request: the report views are unmonitored."""
    settings.ROOT_URLCONF = "demo_site.urls"
    settings.DEBUG = True
    settings.INTERNAL_IPS = ["127.0.0.1"]

    assert client.get("/perfprobe/report.json").status_code == 200
    data = client.get("/perfprobe/report.json").json()

    assert data["summary"]["requests"] == 0
    assert data["endpoints"] == []
    # A read is counted once it has been served: the first one, not this one.
    assert data["settings"]["sampling"]["requests_unmonitored_views"] == 1
    third = client.get("/perfprobe/report.json").json()
    assert third["settings"]["sampling"]["requests_unmonitored_views"] == 2
    assert third["summary"]["requests"] == 0


# -- the monitor's own failures ---------------------------------------------------


def test_fifty_requests_with_a_broken_collector_log_each_failure_once(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """50 requests, recording broken: 50 normal responses, one ERROR per kind."""

    def broken(*args: Any) -> None:
        raise RuntimeError("collector bug")

    monkeypatch.setattr(fresh_monitor.collector, "request_ended", broken)
    monkeypatch.setattr(fresh_monitor.collector, "record_query", broken)

    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        responses = [client.get("/three/") for _ in range(50)]

    assert [(r.status_code, r.content) for r in responses] == [(200, b"three")] * 50
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sorted((r.name, r.getMessage().split(" (")[0]) for r in errors) == [
        ("perfprobe.db", "perfprobe failed to record a query"),
        ("perfprobe.request", "perfprobe failed to record a request"),
    ]
    assert all(r.exc_info is not None for r in errors)
    # Later failures are counted at DEBUG: 49 requests, 149 queries.
    again = [
        r for r in caplog.records if r.levelno == logging.DEBUG and "again" in r.msg
    ]
    assert sorted((r.name, r.__dict__["failure_count"]) for r in again)[-1] == (
        "perfprobe.request",
        50,
    )
    assert sum(1 for r in again if r.name == "perfprobe.db") == 149
    assert sum(1 for r in again if r.name == "perfprobe.request") == 49


def test_a_view_exception_still_reaches_django_with_a_broken_collector(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The view's own KeyError propagates unchanged while perfprobe is broken."""

    def broken(*args: Any) -> None:
        raise RuntimeError("collector bug")

    monkeypatch.setattr(fresh_monitor.collector, "request_ended", broken)

    for _ in range(3):
        with pytest.raises(KeyError) as raised:
            client.get("/boom/")
        assert raised.value.args == ("missing",)
    lenient = Client(raise_request_exception=False)
    assert lenient.get("/boom/").status_code == 500


# -- streaming bodies --------------------------------------------------------------
# Django produces a streaming body, and closes the response, after the middleware
# has returned; a request left out of the data must stay out while it does.

#: Django's note when ASGI has to drain a synchronous streaming body.
SYNC_BODY_UNDER_ASGI = "ignore:StreamingHttpResponse must consume synchronous"


async def _serve_asgi(path: str) -> tuple[int, bytes]:
    """Serve a GET through Django's real ASGI handler, as uvicorn would."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages: list[dict[str, Any]] = []
    requested = False
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never  # the client stays connected; Django cancels this wait
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await ASGIHandler()(scope, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(
        m.get("body", b"") for m in messages if m["type"] == "http.response.body"
    )
    return status, body


def serve_asgi(path: str) -> tuple[int, bytes]:
    """Return the status and whole body of a GET served through ASGI."""
    # As Django's test client does: closing the connection at the request's
    # edges would end the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return async_to_sync(_serve_asgi)(path)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_streaming_body_of_an_excluded_request_is_not_recorded(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """An excluded streaming view's 3 body queries and timer are not kept (WSGI)."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/stream/"])

    response = client.get("/stream/")

    assert b"".join(response.streaming_content) == b"one,two"
    assert_nothing_recorded(fresh_monitor)
    assert not is_suppressed()


def test_the_async_streaming_body_of_an_excluded_request_is_not_recorded(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """Under ASGI an excluded async body's 3 queries and timer are not kept."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/async/stream/"])

    assert serve_asgi("/async/stream/") == (200, b"one,two")
    assert_nothing_recorded(fresh_monitor)


@pytest.mark.filterwarnings(SYNC_BODY_UNDER_ASGI)
def test_a_sync_streaming_body_of_an_unsampled_request_under_asgi_is_not_recorded(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """Under ASGI an unsampled request's sync body, drained in a thread, is not kept."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.0)

    assert serve_asgi("/stream/") == (200, b"one,two")
    assert_nothing_recorded(fresh_monitor)


def test_the_streaming_body_of_an_unsampled_request_is_not_recorded(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """With SAMPLE_RATE 0 a streaming body's 3 queries and timer are not kept."""
    use(settings, fresh_monitor, SAMPLE_RATE=0.0)

    response = client.get("/stream/")

    assert b"".join(response.streaming_content) == b"one,two"
    assert_nothing_recorded(fresh_monitor)


def test_the_streaming_body_of_an_unmonitored_view_is_not_recorded(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """An unmonitored streaming view's body leaves no trace, sync or async."""
    response = client.get("/hidden-stream/")

    assert b"".join(response.streaming_content) == b"one,two"
    assert serve_asgi("/async/hidden-stream/") == (200, b"one,two")
    assert_nothing_recorded(fresh_monitor)
    skipped = fresh_monitor.collector.snapshot().skipped_requests
    assert skipped == {"unmonitored_view": 2}


def test_the_file_response_body_of_an_excluded_request_is_not_recorded(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """A FileResponse whose 2 reads each run a query records none when excluded."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/file/"])

    response = client.get("/file/")

    assert b"".join(response.streaming_content) == b"ff"
    assert_nothing_recorded(fresh_monitor)


def test_closing_the_stream_of_an_excluded_request_early_records_nothing(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """A body closed after one chunk runs its finally-block query unrecorded."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/endless/"])

    response = client.get("/endless/")
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"x"
    response.close()

    assert_nothing_recorded(fresh_monitor)


def test_request_finished_work_of_an_excluded_request_is_not_recorded(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """A request_finished receiver's query, run by close(), is not kept if excluded."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/health/"])

    def on_finished(**kwargs: Any) -> None:
        run_queries(1)

    request_finished.connect(on_finished)
    try:
        assert client.get("/health/").content == b"three"
    finally:
        request_finished.disconnect(on_finished)

    assert_nothing_recorded(fresh_monitor)


def test_the_mark_is_current_only_while_a_chunk_is_produced(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Between two chunks of an excluded body, the caller's own query is recorded."""
    use(settings, fresh_monitor, EXCLUDE_PATHS=["/stream/"])

    chunks = iter(client.get("/stream/").streaming_content)
    assert next(chunks) == b"one,"
    assert not is_suppressed()
    run_queries(1, offset=7)
    assert b"".join(chunks) == b"two"

    (query,) = events_of(fresh_monitor, QueryEvent)
    assert query.scope is None


def test_a_monitored_streaming_body_counts_outside_any_scope(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """A monitored request closes before its body: its 3 body queries have no scope."""
    response = client.get("/stream/")
    assert b"".join(response.streaming_content) == b"one,two"

    (event,) = events_of(fresh_monitor, RequestEvent)
    assert (event.route, event.query_count) == ("/stream/", 0)
    queries = events_of(fresh_monitor, QueryEvent)
    assert [q.scope for q in queries] == [None, None, None]
    assert [op.name for op in events_of(fresh_monitor, OperationEvent)] == [
        "stream-step"
    ]


# -- settings changed while serving -------------------------------------------------


def test_settings_changed_between_requests_apply_to_the_next_one(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Monitored, then excluded, then keeping query strings: each from the next request.

    The middleware remembers settings that monitor every request; a change
    must not be missed because of that.
    """
    use(settings, fresh_monitor)
    assert client.get("/three/?a=1").status_code == 200

    settings.PERFPROBE = {"EXCLUDE_PATHS": ["/three/"]}
    assert client.get("/three/?a=2").status_code == 200

    settings.PERFPROBE = {"STORE_QUERY_STRINGS": True}
    assert client.get("/three/?a=3").status_code == 200

    requests = events_of(fresh_monitor, RequestEvent)
    assert [r.query_string for r in requests] == [None, "a=3"]
    skipped = fresh_monitor.collector.snapshot().skipped_requests
    assert skipped == {sampling.EXCLUDED: 1}


def test_a_collector_without_a_scope_table_breaks_no_request(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The request scope's tracker unreadable: responses as usual, one ERROR."""
    monkeypatch.delattr(fresh_monitor.collector, "scope_table")

    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        responses = [client.get("/three/") for _ in range(3)]

    assert [(r.status_code, r.content) for r in responses] == [(200, b"three")] * 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(" (")[0] for r in errors] == [
        "perfprobe failed to open scope 'request'"
    ]
