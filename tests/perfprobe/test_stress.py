"""Stress and soak tests: exact totals under threads, bounded memory, accuracy.

Excluded from the default run; ``make test-stress`` runs them.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve
from pytest_django import Settings

from apps.shop.latency import set_latency_scale
from apps.shop.models import Customer, Order
from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.collector import OVERFLOW_KEY, Collector
from perfprobe.events import (
    ErrorEvent,
    Event,
    OperationEvent,
    QueryEvent,
    RequestEvent,
)
from perfprobe.middleware import UNMATCHED_ROUTE, PerformanceMiddleware
from perfprobe.scope import Scope
from perfprobe.stats import inclusive_percentile

pytestmark = pytest.mark.stress

MB = 1024 * 1024


def op_event(name: str, duration_s: float, thread_id: int = 1) -> OperationEvent:
    """Return an operation event outside any scope."""
    return OperationEvent(
        name=name,
        duration_s=duration_s,
        started_at=time.time(),
        thread_id=thread_id,
        thread_name="worker",
        scope=None,
    )


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run ``target(index)`` in ``count`` threads and wait for them all."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- exact aggregates under contention ----------------------------------------


def test_sixteen_threads_give_exact_counts_and_sums() -> None:
    """16 threads x 50,000 measurements of known durations sum exactly."""
    collector = Collector()
    per_thread = 50_000
    threads = 16

    def work(index: int) -> None:
        own = f"thread-{index}"
        for step in range(per_thread):
            # k/1024 s (about k ms) for k = 1..1000: multiples of 1/1024 add
            # without rounding at these magnitudes, so the total is exact
            # whatever order the threads interleave in.
            duration_s = (step % 1000 + 1) / 1024
            collector.record_operation(op_event("hot", duration_s, index), None)
            if step % 10 == 0:
                collector.record_operation(op_event(own, 1 / 1024, index), None)

    started = time.perf_counter()
    run_threads(threads, work)
    elapsed_s = time.perf_counter() - started

    operations = collector.snapshot().operations
    hot, errors = operations["hot"]
    cycles = per_thread // 1000
    assert hot.count == threads * per_thread
    assert hot.total == threads * cycles * (1000 * 1001 // 2) / 1024
    assert (hot.min, hot.max) == (1 / 1024, 1000 / 1024)
    assert hot.mean == pytest.approx(500.5 / 1024, rel=1e-12)
    assert hot.p50 == pytest.approx(500.5 / 1024, rel=0.02)
    assert errors == {}
    for index in range(threads):
        own, _ = operations[f"thread-{index}"]
        assert own.count == per_thread // 10
        assert own.total == (per_thread // 10) / 1024
    # A loose sanity bound on lock contention, not a benchmark.
    assert elapsed_s < 90


def test_threads_with_their_own_scopes_keep_exact_scope_counts() -> None:
    """16 threads, each in its own scope, see exactly their own query counts."""
    collector = Collector()
    summaries: dict[int, tuple[int, int]] = {}
    parent = Scope(name="batch")
    collector.scope_opened(parent)

    def work(index: int) -> None:
        scope = Scope(name=f"worker-{index}", parent=parent)
        collector.scope_opened(scope)
        for step in range((index + 1) * 500):
            event = QueryEvent(
                alias="default",
                vendor="sqlite",
                sql="SELECT * FROM t WHERE id = %s",
                fingerprint="SELECT * FROM t WHERE id = ?",
                duration_s=1 / 1024,
                started_at=time.time(),
                thread_id=index,
                scope=scope.path,
                call_site="app.py:1",
                params_hash=step,
            )
            collector.record_query(event, scope)
        summary = collector.scope_closed(scope, 0.0)
        assert summary is not None
        summaries[index] = (summary.query_count, summary.n_plus_one[0].count)

    run_threads(16, work)
    parent_summary = collector.scope_closed(parent, 0.0)

    assert summaries == {i: ((i + 1) * 500, (i + 1) * 500) for i in range(16)}
    assert parent_summary is not None
    assert parent_summary.query_count == 500 * 16 * 17 // 2
    assert parent_summary.query_time_s == parent_summary.query_count / 1024
    # The parent never ran a query itself, so it has nothing to analyse.
    assert parent_summary.n_plus_one == ()


# -- bounded memory -------------------------------------------------------------


def _mixed_events(start: int, stop: int) -> Iterator[Event]:
    """Yield events of every kind: mostly ten hot names each, the rest ever new.

    One event in four of each kind names something never seen before (an id
    baked into a name, the classic way a metrics table leaks), so past the
    table bounds those all land on the overflow key.
    """
    for index in range(start, stop):
        kind = index % 4
        fresh = (index // 4) % 4 == 0
        serial = f"new-{index}" if fresh else f"hot-{index // 4 % 10}"
        duration_s = (index % 997 + 1) / 1e4
        if kind == 0:
            yield op_event(f"task-{serial}", duration_s)
        elif kind == 1:
            yield QueryEvent(
                alias="default",
                vendor="sqlite",
                sql=f"SELECT * FROM t_{serial} WHERE id = %s",
                fingerprint=f"SELECT * FROM t_{serial} WHERE id = ?",
                duration_s=duration_s,
                started_at=time.time(),
                thread_id=1,
                scope=None,
                call_site=f"app/views.py:{index % 50}",
                params_hash=index,
            )
        elif kind == 2:
            yield RequestEvent(
                method="GET",
                route=f"/api/{serial}/",
                status=500 if index % 101 == 0 else 200,
                duration_s=duration_s,
                started_at=time.time(),
                thread_id=1,
                query_count=index % 7,
                query_time_s=0.001,
                scope=None,
            )
        else:
            yield ErrorEvent(
                source="operation",
                name=f"task-{serial}",
                error_type=f"Error{index % 40}",
                started_at=time.time(),
                scope=None,
            )


def _feed(collector: Collector, events: Iterator[Event]) -> None:
    """Record every event, with a scope opened and closed every 1,000 events."""
    scope: Scope | None = None
    for index, event in enumerate(events):
        if index % 1000 == 0:
            if scope is not None:
                collector.scope_closed(scope, 0.0)
            scope = Scope(name="unit")
            collector.scope_opened(scope)
        if isinstance(event, OperationEvent):
            collector.record_operation(event, scope)
        elif isinstance(event, QueryEvent):
            collector.record_query(event, scope)
        elif isinstance(event, RequestEvent):
            collector.record_request(event, scope)
        elif isinstance(event, ErrorEvent):
            collector.record_error(event, scope)
    if scope is not None:
        collector.scope_closed(scope, 0.0)


def test_memory_stays_bounded_over_a_million_events() -> None:
    """A million events, a quarter of them with ever-new names, stay under 20 MB.

    With the default bounds the collector keeps at most 500 operations, 500
    endpoints and 500 fingerprints, each table plus one overflow entry; 1,000
    recent events and errors; 200 scope summaries. A metric holds at most
    2,048 exact samples (16 KB) before it turns into a sketch of a few KB
    whose size depends on the range of values, not their number. Here the
    hot metrics turn into sketches within the first 200,000 events and the
    ever-new names each keep one sample, so everything held afterwards is
    fixed: a leak (anything growing with the event count) shows as growth
    over the last 800,000 events. Traced memory counts every allocation
    still alive, so it bounds the collector from above.
    """
    gc.collect()
    tracemalloc.start()
    try:
        collector = Collector()
        _feed(collector, _mixed_events(0, 200_000))
        gc.collect()
        early_bytes, _ = tracemalloc.get_traced_memory()
        _feed(collector, _mixed_events(200_000, 1_000_000))
        gc.collect()
        final_bytes, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    snapshot = collector.snapshot()
    for table in (snapshot.operations, snapshot.queries, snapshot.endpoints):
        assert len(table) == 501
    assert len(snapshot.recent_events) == 1000
    assert len(snapshot.errors) == 1000
    assert len(snapshot.scopes) == 200
    # Of the 250,000 operations, 62,500 had new names; 490 of those filled
    # the table beside the ten hot names, and the rest overflowed.
    overflow, _ = snapshot.operations[OVERFLOW_KEY]
    assert overflow.count == 62_500 - 490
    hot, _ = snapshot.operations["task-hot-3"]
    assert not hot.exact
    assert final_bytes < 20 * MB, f"{final_bytes / MB:.1f} MB held"
    assert peak_bytes < 25 * MB, f"{peak_bytes / MB:.1f} MB at the peak"
    growth_bytes = final_bytes - early_bytes
    assert growth_bytes < 1 * MB, f"grew {growth_bytes / MB:.2f} MB"


# -- percentile accuracy --------------------------------------------------------


def test_percentiles_of_200000_uniform_samples_are_within_two_percent() -> None:
    """Past the exact limit the sketch still puts p50, p95, p99 within 2%."""
    collector = Collector()
    rng = random.Random(20240601)
    samples = [rng.random() for _ in range(200_000)]

    for value in samples:
        collector.record_operation(op_event("uniform", value), None)

    stats, _ = collector.snapshot().operations["uniform"]
    assert not stats.exact
    assert stats.count == 200_000
    ordered = sorted(samples)
    for quantile, estimate in ((0.50, stats.p50), (0.95, stats.p95), (0.99, stats.p99)):
        assert estimate == pytest.approx(quantile, rel=0.02)
        assert estimate == pytest.approx(
            inclusive_percentile(ordered, quantile), rel=0.015
        )
    assert stats.min == ordered[0] and stats.max == ordered[-1]


# -- soak through the real stack --------------------------------------------------


@pytest.fixture
def soak_shop(transactional_db: None) -> Iterator[None]:
    """Commit the sample shop, so worker threads can read it; no latency."""
    set_latency_scale(0.0)
    ensure_sample_data()
    yield
    set_latency_scale(None)


def test_concurrent_requests_soak_through_the_test_client(
    fresh_monitor: PerformanceMonitor, soak_shop: None
) -> None:
    """8 threads x 200 requests give exact counts per route and solo query counts."""
    order_pks = list(Order.objects.order_by("pk").values_list("pk", flat=True)[:40])
    customer_pks = list(Customer.objects.order_by("pk").values_list("pk", flat=True))

    def target(step: int, serial: int) -> tuple[str, str, int]:
        """Return the URL, route and expected status of the ``step``-th request."""
        order = order_pks[serial % len(order_pks)]
        customer = customer_pks[serial % len(customer_pks)]
        return [
            ("/api/products/?limit=5", "/api/products/", 200),
            (f"/api/orders/{order}/", "/api/orders/<int:pk>/", 200),
            (f"/api/users/profile/?customer_id={customer}", "/api/users/profile/", 200),
            (f"/api/orders/{order}/invoice/", "/api/orders/<int:pk>/invoice/", 500),
            (f"/api/no-such-page/{serial}/", UNMATCHED_ROUTE, 404),
        ][step % 5]

    routes = [target(step, 0)[1] for step in range(5)]
    # One request per route first, alone, gives each route's query count.
    solo = Client(raise_request_exception=False)
    for step in range(5):
        solo.get(target(step, 0)[0])
    solo_counts = {
        route: stats["query_counts"].max
        for (_, route), stats in fresh_monitor.collector.snapshot().endpoints.items()
    }
    fresh_monitor.reset()
    failures: list[str] = []

    def work(index: int) -> None:
        client = Client(raise_request_exception=False)
        try:
            for step in range(200):
                url, _, expected = target(step, index * 200 + step)
                status = client.get(url).status_code
                if status != expected:
                    failures.append(f"{url}: {status}")
        finally:
            connections.close_all()

    run_threads(8, work)

    assert failures == []
    endpoints = fresh_monitor.collector.snapshot().endpoints
    assert sorted(route for _, route in endpoints) == sorted(routes)
    for route in routes:
        stats = endpoints["GET", route]
        assert stats["stats"].count == 8 * 40, route
        counts = stats["query_counts"]
        assert (counts.min, counts.max) == (solo_counts[route],) * 2, route
    assert endpoints["GET", "/api/orders/<int:pk>/invoice/"]["errors"] == {
        "KeyError": 320
    }
    assert endpoints["GET", UNMATCHED_ROUTE]["statuses"] == {404: 320}


def test_many_concurrent_async_requests_keep_their_own_scopes(
    fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """500 interleaved async requests each count exactly their own operations."""
    settings.PERFPROBE = {"MAX_SCOPE_HISTORY": 1000}
    fresh_monitor.reset()
    urlconf = "tests.perfprobe.middleware_urls"

    async def view(request: HttpRequest) -> HttpResponse:
        steps = request.resolver_match.kwargs["pk"] if request.resolver_match else 0
        for _ in range(steps):
            async with fresh_monitor.measure_execution_time("step"):
                await asyncio.sleep(0)
        return HttpResponse()

    async def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve(request.path_info, urlconf=urlconf)
        return await view(request)

    middleware = PerformanceMiddleware(get_response)
    factory = RequestFactory()
    steps = [index % 37 for index in range(500)]

    async def all_requests() -> list[HttpResponse]:
        return list(
            await asyncio.gather(
                *(middleware(factory.get(f"/items/{n}/")) for n in steps)
            )
        )

    responses = asyncio.run(all_requests())

    assert {r.status_code for r in responses} == {200}
    snapshot = fresh_monitor.collector.snapshot()
    scopes = [s for s in snapshot.scopes if s.kind == "request"]
    assert sorted(s.operation_count for s in scopes) == sorted(steps)
    step_stats, _ = snapshot.operations["step"]
    assert step_stats.count == sum(steps)
    assert snapshot.endpoints["GET", "/items/<int:pk>/"]["stats"].count == 500
