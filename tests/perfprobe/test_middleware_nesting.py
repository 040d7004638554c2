"""Test requests whose scopes nest oddly: out of order, or one request in another."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.events import RequestEvent
from perfprobe.scope import current_scope

# Each test runs through the C path and the Python code (see conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]


@pytest.fixture(autouse=True)
def test_urls(settings: Settings) -> None:
    """Serve the views of ``nesting_urls``."""
    settings.ROOT_URLCONF = "tests.perfprobe.nesting_urls"


def query_count(mon: PerformanceMonitor) -> int:
    """Return how many queries the monitor recorded in all."""
    total = mon.collector.snapshot().query_total
    return total.count if total else 0


def test_scopes_left_out_of_order_keep_every_query_of_the_request(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """a, b entered, a left, 2 queries, b left, 1 query: the request has all 3."""
    assert client.get("/out-of-order/").content == b"out of order"

    (event,) = [
        e
        for e in fresh_monitor.collector.snapshot().recent_events
        if isinstance(e, RequestEvent)
    ]
    assert (event.route, event.query_count) == ("/out-of-order/", 3)
    assert current_scope.get() is None


@pytest.mark.parametrize(
    ("path", "perfprobe"),
    [
        ("/hidden/out-of-order/", {}),
        ("/out-of-order/", {"SAMPLE_RATE": 0.0}),
    ],
    ids=["unmonitored-view", "not-sampled"],
)
def test_scopes_left_out_of_order_in_a_request_left_out_record_nothing(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    settings: Settings,
    path: str,
    perfprobe: dict[str, float],
) -> None:
    """Leaving a before b restores the request's mark: the 3 queries stay out."""
    settings.PERFPROBE = perfprobe
    fresh_monitor.reset()
    with fresh_monitor.scope("outer"):
        client.get(path)

    snapshot = fresh_monitor.collector.snapshot()
    assert query_count(fresh_monitor) == 0
    assert [(s.path, s.query_count) for s in snapshot.scopes] == [("outer", 0)]
    assert current_scope.get() is None


@pytest.mark.parametrize(
    ("path", "perfprobe", "skipped"),
    [
        ("/hidden/sub/", {}, {"unmonitored_view": 1}),
        ("/sub/", {"EXCLUDE_PATHS": ["/sub/"]}, {"excluded": 1}),
    ],
    ids=["unmonitored-view", "excluded"],
)
def test_a_request_made_inside_a_request_left_out_is_left_out_too(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    settings: Settings,
    path: str,
    perfprobe: dict[str, list[str]],
    skipped: dict[str, int],
) -> None:
    """The view's sub-request to /three/ is its work: its 3 queries stay out.

    Recorded, its summary would also have named the unmonitored route.
    """
    settings.PERFPROBE = perfprobe
    fresh_monitor.reset()

    assert client.get(path).content == b"sub"

    snapshot = fresh_monitor.collector.snapshot()
    assert query_count(fresh_monitor) == 0
    assert (snapshot.endpoints, snapshot.scopes) == ({}, [])
    assert snapshot.skipped_requests == skipped


def test_a_request_made_inside_a_monitored_request_is_recorded_in_it(
    fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """Both requests are recorded; the inner one's 3 queries count in both."""
    client.get("/sub/")

    snapshot = fresh_monitor.collector.snapshot()
    assert sorted(snapshot.endpoints) == [("GET", "/sub/"), ("GET", "/three/")]
    assert query_count(fresh_monitor) == 3
