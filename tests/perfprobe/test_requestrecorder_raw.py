"""Tests for quiet requests that wait raw in their thread's log, among its queries."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, monitoring
from perfprobe.collector import Collector
from perfprobe.events import RequestEvent
from perfprobe.querylog import QUERY_BATCH
from perfprobe.requestlog import RawRequest
from perfprobe.scope import Scope, current_scope

from .report_factories import query

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_monitor(monkeypatch: pytest.MonkeyPatch) -> PerformanceMonitor:
    """Make a monitor of its own the default: nothing left open by other tests."""
    own = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", own)
    # This thread's log first in the list, before any worker's.
    own.collector.register_thread()
    return own


def in_thread(target: Callable[[], None]) -> None:
    """Run ``target`` in a new thread that closes its connection; wait for it."""

    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()


def open_request(collector: Collector, route: str) -> Scope:
    """Open the scope of a request to ``GET route``, as the middleware does."""
    scope = Scope(name=f"GET {route}", kind="request", started_at=1_000.0)
    collector.scope_opened(scope)
    return scope


def end_request(collector: Collector, scope: Scope, route: str) -> None:
    """End the request of ``scope``: 200, 10 ms."""
    raw: RawRequest = (("GET", route), 200, 0.01, 1_000.0, 7, None, None, None)
    collector.request_ended(scope, raw)


def run_in_scope(scope: Scope, count: int) -> Callable[[], None]:
    """Return a worker that runs ``count`` queries in ``scope``."""

    def worker() -> None:
        current_scope.set(scope)
        for _ in range(count):
            Customer.objects.count()

    return worker


def request_event(monitor: PerformanceMonitor, route: str) -> RequestEvent:
    """Return the one recent event of a request to ``route``."""
    (event,) = [
        e
        for e in monitor.collector.snapshot().recent_events
        if isinstance(e, RequestEvent) and e.route == route
    ]
    return event


def test_a_quiet_request_waits_raw_in_its_thread_s_log(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Ended, it takes no lock: it waits until a read, then counts once."""
    collector = fresh_monitor.collector
    end_request(collector, open_request(collector, "/a/"), "/a/")

    assert len(collector.thread_logs.local.log.queries) == 1
    assert collector.snapshot().endpoints[("GET", "/a/")]["stats"].count == 1
    assert collector.thread_logs.local.log.queries == []


def test_a_waiting_request_counts_the_queries_a_worker_ran_in_its_scope(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The worker's 4 queries wait in a later log than the request: they count in it."""
    collector = fresh_monitor.collector
    scope = open_request(collector, "/a/")
    in_thread(run_in_scope(scope, 4))
    end_request(collector, scope, "/a/")

    event = request_event(fresh_monitor, "/a/")

    assert event.query_count == 4
    assert collector.snapshot().queries_outside_scopes == 0
    assert collector._scopes.states == {}


def test_a_thread_s_batch_of_requests_folds_the_workers_queries_first(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Its log full, a thread folds every log: a worker's queries count in its scope."""
    collector = fresh_monitor.collector
    scope = open_request(collector, "/a/")
    in_thread(run_in_scope(scope, 3))
    end_request(collector, scope, "/a/")
    for _ in range(QUERY_BATCH - 1):
        end_request(collector, open_request(collector, "/b/"), "/b/")
    # The batch was folded by the thread itself, before any read.
    assert not any(log.queries for log in collector.thread_logs.logs)

    assert request_event(fresh_monitor, "/a/").query_count == 3
    assert collector.snapshot().queries_outside_scopes == 0


def test_waiting_requests_and_queries_are_read_in_the_order_they_came(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A query, a request, a query, all waiting raw: read back in that order."""
    collector = fresh_monitor.collector
    Customer.objects.count()
    end_request(collector, open_request(collector, "/a/"), "/a/")
    Customer.objects.count()
    assert len(collector.thread_logs.local.log.queries) == 3

    kinds = [event.kind for event in collector.snapshot().recent_events]

    assert kinds == ["query", "request", "query"]


def test_reset_drops_a_waiting_request_and_its_scope_s_state(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A request with a query, reset while waiting: nothing of it stays open."""
    collector = fresh_monitor.collector
    scope = open_request(collector, "/a/")
    # Recorded at once (no lock held, a listener-free collector would
    # wait; record_query is the eager way): the scope has its state now.
    collector.record_query(query("SELECT 1", 0.001), scope)
    end_request(collector, scope, "/a/")
    assert scope.id in collector._scopes.states

    collector.reset()

    assert collector._scopes.states == {}
    assert collector.snapshot().endpoints == {}
