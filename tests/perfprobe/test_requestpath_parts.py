"""Tests that the C request path follows the collector it serves.

``perfprobe._reqpath`` reads a collector's fixed parts (scope table,
listener lists, lock, thread logs, open memory blocks) once and keeps them
for the collector last seen: each test here serves a request with one
collector, so that the parts kept are its, then with another, whose parts
must be the ones used. Each runs through the C path and the Python code.
"""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from pytest_django import Settings

from perfprobe import PerformanceMonitor, monitoring
from perfprobe.aggregates import ScopeSummary
from perfprobe.collector import Collector
from perfprobe.events import MemoryRecord, OperationEvent, RequestEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]


@pytest.fixture
def other(
    settings: Settings, client: Client, monkeypatch: pytest.MonkeyPatch
) -> PerformanceMonitor:
    """Serve requests with the process's monitor, then install another."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    # The first request after a settings change is the Python code's.
    client.get("/quiet/")
    client.get("/quiet/")
    replacement = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", replacement)
    return replacement


def quiet_count(collector: Collector) -> int:
    """Return the requests recorded for ``GET /quiet/``."""
    endpoints = collector.snapshot().endpoints
    return endpoints[("GET", "/quiet/")]["stats"].count if endpoints else 0


def test_the_new_collectors_scope_table_closes_the_scopes(
    other: PerformanceMonitor, fresh_monitor: PerformanceMonitor, client: Client
) -> None:
    """Scopes of requests served after the switch close in the new table."""
    client.get("/quiet/")
    client.get("/quiet/")

    assert other.collector.snapshot().scopes_closed == 2
    assert fresh_monitor.collector.snapshot().scopes_closed == 2
    assert quiet_count(other.collector) == 2


def test_the_new_collectors_listeners_are_heard(
    other: PerformanceMonitor, client: Client
) -> None:
    """A request or scope listener of the new collector hears each request."""
    requests: list[RequestEvent] = []
    scopes: list[ScopeSummary] = []
    other.collector.add_request_listener(requests.append)
    client.get("/quiet/")
    other.collector.remove_request_listener(requests.append)
    other.collector.add_scope_listener(scopes.append)
    client.get("/quiet/")
    other.collector.remove_scope_listener(scopes.append)

    assert [(e.route, e.status) for e in requests] == [("/quiet/", 200)]
    assert [s.name for s in scopes] == ["GET /quiet/"]


def test_inside_the_new_collectors_lock_the_request_is_deferred(
    other: PerformanceMonitor, client: Client
) -> None:
    """A request ending inside the new collector's lock waits for its release."""
    lock = other.collector._lock
    with lock:
        client.get("/quiet/")
        waiting = len(lock._deferred)
    lock.run_deferred()

    assert waiting == 1
    assert quiet_count(other.collector) == 1


def test_the_new_collectors_open_blocks_are_marked(
    other: PerformanceMonitor, client: Client
) -> None:
    """A quiet request marks another thread's open block of the new collector."""
    block = MemoryRecord(
        "elsewhere", "block", 0.0, threading.get_ident() + 1, "other", None, 0, 0, 0
    )
    other.collector._activity.open_blocks.append(block)
    try:
        client.get("/quiet/")
    finally:
        other.collector._activity.open_blocks.remove(block)

    assert block.process_wide is True


def test_the_new_collectors_timer_records_come_first(
    other: PerformanceMonitor, client: Client
) -> None:
    """A timer record waiting in the new collector's logs is added first."""
    with other.measure_execution_time("before"):
        pass
    client.get("/quiet/")

    kinds = [
        type(e).__name__
        for e in other.collector.snapshot().recent_events
        if isinstance(e, OperationEvent | RequestEvent)
    ]
    assert kinds == ["OperationEvent", "RequestEvent"]
