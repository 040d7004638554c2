"""Tests for the middleware's production controls: switches, sampling, exclusions."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from pytest_django import Settings
from rich.console import Console

from perfprobe import PerformanceMonitor, sampling
from perfprobe.events import OperationEvent, QueryEvent, RequestEvent
from perfprobe.report.html import render_html
from perfprobe.report.schema import validate_report
from perfprobe.report.terminal import TerminalRenderer
from perfprobe.suppression import is_suppressed

pytestmark = pytest.mark.django_db

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
    # Both reads are counted, this one too: it is decided before the view runs.
    assert data["settings"]["sampling"]["requests_unmonitored_views"] == 2


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

    monkeypatch.setattr(fresh_monitor.collector, "record_request", broken)
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

    monkeypatch.setattr(fresh_monitor.collector, "record_request", broken)

    for _ in range(3):
        with pytest.raises(KeyError) as raised:
            client.get("/boom/")
        assert raised.value.args == ("missing",)
    lenient = Client(raise_request_exception=False)
    assert lenient.get("/boom/").status_code == 500
