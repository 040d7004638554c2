"""Tests for perfprobe.requestrecorder: quiet requests folded in batches."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from pytest_django import Settings

from perfprobe.aggregates import OVERFLOW_KEY
from perfprobe.collector import Collector
from perfprobe.requestfold import FEW_ENDPOINTS, REQUEST_BATCH
from perfprobe.scope import Scope

from .report_factories import query, raw_request


@pytest.fixture
def collector() -> Collector:
    """Return a fresh collector on the default settings."""
    return Collector()


def end_quiet_request(
    collector: Collector, route: str, status: int, duration_s: float
) -> None:
    """End a request of ``GET route`` in whose scope nothing was recorded."""
    scope = Scope(name=f"GET {route}", kind="request", started_at=1_000.0)
    collector.scope_opened(scope)
    raw = raw_request(scope, route, status, duration_s)
    collector.request_ended(scope, raw)


def test_endpoint_figures_are_exact_before_and_after_a_batch(
    collector: Collector,
) -> None:
    """Read with 5 requests waiting, then past a full batch: every request counts."""
    for ms in range(1, 6):
        end_quiet_request(collector, "/a/", 200, ms / 1000)
    assert collector._request_log  # waiting: below one batch

    early = collector.snapshot().endpoints[("GET", "/a/")]
    assert (early["stats"].count, early["stats"].total) == (5, pytest.approx(0.015))
    assert early["statuses"] == {200: 5}

    later_count = REQUEST_BATCH + 7
    for index in range(later_count):
        end_quiet_request(collector, "/a/", 404 if index % 2 else 200, 0.002)
    # The read folded the first 5; of the next 135, 128 made a batch.
    assert len(collector._request_log) == later_count - REQUEST_BATCH

    late = collector.snapshot().endpoints[("GET", "/a/")]
    assert late["stats"].count == 5 + later_count
    assert late["stats"].total == pytest.approx(0.015 + 0.002 * later_count)
    assert late["statuses"] == {200: 5 + 68, 404: 67}
    assert late["query_counts"].count == 5 + later_count
    assert late["query_counts"].max == 0


def test_a_batch_of_interleaved_endpoints_splits_exactly(collector: Collector) -> None:
    """Three routes in turn within one batch: each gets its own durations."""
    routes = ("/a/", "/b/", "/c/")
    for index in range(90):
        end_quiet_request(collector, routes[index % 3], 200, (index % 3 + 1) / 10)

    endpoints = collector.snapshot().endpoints

    for number, route in enumerate(routes, start=1):
        stats = endpoints[("GET", route)]["stats"]
        assert (stats.count, stats.min, stats.max) == (30, number / 10, number / 10)
    assert list(endpoints) == [("GET", "/a/"), ("GET", "/b/"), ("GET", "/c/")]


def test_a_batch_counts_each_status_in_the_order_first_seen(
    collector: Collector,
) -> None:
    """Statuses mixed in one batch, the first one a minority: exact, first-come."""
    # /a/: 302 once, then 200 and 404 in turn; /b/: 200 only, then 301 once.
    for index in range(REQUEST_BATCH):
        if index % 2 == 0:
            status = 302 if index == 0 else (200 if index % 4 == 2 else 404)
            end_quiet_request(collector, "/a/", status, 0.001)
        else:
            end_quiet_request(collector, "/b/", 301 if index == 127 else 200, 0.001)
    assert not collector._request_log  # one full batch, folded

    endpoints = collector.snapshot().endpoints

    # /a/ has the 64 even indexes: 0 (302), then 32 at 2 mod 4, 31 at 0 mod 4.
    assert list(endpoints[("GET", "/a/")]["statuses"].items()) == [
        (302, 1),
        (200, 32),
        (404, 31),
    ]
    assert list(endpoints[("GET", "/b/")]["statuses"].items()) == [(200, 63), (301, 1)]


@pytest.mark.parametrize("route_count", [FEW_ENDPOINTS, FEW_ENDPOINTS + 3])
def test_a_batch_of_many_endpoints_splits_exactly_in_first_come_order(
    collector: Collector, route_count: int
) -> None:
    """Up to and past FEW_ENDPOINTS routes in one batch: each its own requests."""
    # Route k (from 0) ends every route_count-th request, with duration
    # k + 1 ms, and with 404 on its first request only; the last route
    # first, so that first-come is not the routes' own order.
    routes = [f"/r{k}/" for k in reversed(range(route_count))]
    for index in range(REQUEST_BATCH):
        k = route_count - 1 - index % route_count
        status = 404 if index < route_count else 200
        end_quiet_request(
            collector, routes[index % route_count], status, (k + 1) / 1000
        )
    assert not collector._pending and not collector._request_log  # one batch

    endpoints = collector.snapshot().endpoints

    assert list(endpoints) == [("GET", route) for route in routes]
    for k in range(route_count):
        endpoint = endpoints[("GET", f"/r{k}/")]
        count = len(range(route_count - 1 - k, REQUEST_BATCH, route_count))
        stats = endpoint["stats"]
        assert (stats.count, stats.min, stats.max) == (
            count,
            (k + 1) / 1000,
            (k + 1) / 1000,
        )
        assert list(endpoint["statuses"].items()) == [(404, 1), (200, count - 1)]


def test_quiet_requests_past_max_metrics_count_as_dropped_one_each(
    settings: Settings,
) -> None:
    """Past the bound, each waiting request is one dropped metric, as one by one."""
    settings.PERFPROBE = {"MAX_METRICS": 2}
    collector = Collector()

    for route in ("/a/", "/b/", "/c/", "/d/", "/c/"):
        end_quiet_request(collector, route, 200, 0.01)

    snapshot = collector.snapshot()
    assert list(snapshot.endpoints) == [
        ("GET", "/a/"),
        ("GET", "/b/"),
        (OVERFLOW_KEY, OVERFLOW_KEY),
    ]
    assert snapshot.endpoints[OVERFLOW_KEY, OVERFLOW_KEY]["stats"].count == 3
    assert snapshot.dropped_metrics == 3


def test_a_full_request_after_waiting_ones_keeps_first_come_endpoints(
    settings: Settings,
) -> None:
    """A request with a query is added at once, after the waiting ones it follows."""
    settings.PERFPROBE = {"MAX_METRICS": 1}
    collector = Collector()
    end_quiet_request(collector, "/first/", 200, 0.01)
    scope = Scope(name="GET /second/", kind="request", started_at=1_000.0)
    collector.scope_opened(scope)
    collector.record_query(query("SELECT 1", 0.001), scope)
    raw = raw_request(scope, "/second/", duration_s=0.02)
    collector.request_ended(scope, raw)

    endpoints = collector.snapshot().endpoints

    assert endpoints[("GET", "/first/")]["stats"].count == 1
    assert endpoints[OVERFLOW_KEY, OVERFLOW_KEY]["stats"].count == 1


def test_reset_forgets_the_waiting_requests(collector: Collector) -> None:
    """Requests not yet folded are measurements like any other: reset drops them."""
    end_quiet_request(collector, "/a/", 200, 0.01)

    collector.reset()

    assert collector.snapshot().endpoints == {}


@pytest.fixture
def gc_off() -> Iterator[None]:
    """Keep the cyclic garbage collector from running on its own."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _RecordsWhenCollected:
    """A cycle whose finaliser records a query, like a generator's cleanup."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.cycle = self

    def __del__(self) -> None:
        self.collector.record_query(query("SELECT cleanup", 0.001), None)


def test_a_finaliser_run_by_the_fold_lands_in_the_snapshot(
    collector: Collector, gc_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fold runs before the read's lock: a query it triggers is in that read."""
    end_quiet_request(collector, "/a/", 200, 0.01)
    _RecordsWhenCollected(collector)
    fold = Collector._fold_requests

    def fold_collecting(self: Collector) -> None:
        gc.collect()  # as an allocation of the fold could
        fold(self)

    monkeypatch.setattr(Collector, "_fold_requests", fold_collecting)

    snapshot = collector.snapshot()

    assert snapshot.query_total is not None and snapshot.query_total.count == 1
    assert snapshot.endpoints[("GET", "/a/")]["stats"].count == 1


def test_quiet_requests_ended_by_threads_during_reads_are_all_counted(
    collector: Collector,
) -> None:
    """Four short-lived threads end 300 quiet requests each during reads: all count."""
    threads_count, per_thread = 4, 300
    done = threading.Event()
    read_errors: list[BaseException] = []

    def end_requests(route: str) -> None:
        for _ in range(per_thread):
            end_quiet_request(collector, route, 200, 0.001)

    def read_until_done() -> None:
        try:
            while not done.is_set():
                collector.snapshot()
        except BaseException as error:  # reported by the test below
            read_errors.append(error)

    reader = threading.Thread(target=read_until_done)
    reader.start()
    workers = [
        threading.Thread(target=end_requests, args=(f"/r{index}/",))
        for index in range(threads_count)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    reader.join()

    snapshot = collector.snapshot()
    assert read_errors == []
    counts = {key: ep["stats"].count for key, ep in snapshot.endpoints.items()}
    assert counts == {("GET", f"/r{i}/"): per_thread for i in range(threads_count)}
    assert snapshot.scopes_closed == threads_count * per_thread
    assert len(snapshot.recent_events) == min(
        threads_count * per_thread, collector.settings.RECENT_EVENTS_SIZE
    )
    assert len(snapshot.scopes) == collector.settings.MAX_SCOPE_HISTORY
    assert collector._scopes.states == {}


def test_a_quiet_request_is_made_one_event_and_one_summary_across_reads(
    collector: Collector,
) -> None:
    """Two reads return the very event and summary made of one quiet request."""
    end_quiet_request(collector, "/a/", 200, 0.01)

    first, second = collector.snapshot(), collector.snapshot()

    (event,) = first.recent_events
    assert second.recent_events[0] is event
    assert (event.route, event.status, event.duration_s) == ("/a/", 200, 0.01)
    assert second.scopes[0] is first.scopes[0]
    assert first.scopes[0].duration_s == 0.01


def test_a_quiet_request_is_kept_as_one_tuple_until_read(collector: Collector) -> None:
    """The recent events, the scope history and the endpoint log share one tuple."""
    end_quiet_request(collector, "/a/", 200, 0.01)

    (kept,) = collector._recent
    assert type(kept) is tuple
    assert collector._scopes.history[0] is kept
    assert collector._request_log[0] is kept
    # Made events and summaries only when read, with the scope's own values.
    summary = collector.snapshot().scopes[0]
    assert (summary.name, summary.started_at, summary.duration_s) == (
        "GET /a/",
        1_000.0,
        0.01,
    )
