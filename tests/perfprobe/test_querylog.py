"""Tests for perfprobe.querylog: raw queries kept per thread and folded in later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, monitoring
from perfprobe.collector import Collector
from perfprobe.events import Event, QueryEvent
from perfprobe.querylog import QUERY_BATCH
from perfprobe.scope import current_scope

from .finalisers import collect_in_first_add_many, gc_paused, leave_querying_garbage

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_monitor(monkeypatch: pytest.MonkeyPatch) -> PerformanceMonitor:
    """Make a monitor of its own the default: nothing left open by other tests.

    Open memory blocks outlive a reset, and while one is open every query
    is recorded at once, not kept raw.
    """
    own = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", own)
    return own


def waiting(monitor: PerformanceMonitor) -> int:
    """Return how many raw queries wait in the monitor's thread logs."""
    return sum(len(log.queries) for log in monitor.collector.thread_logs.logs)


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


def lazy_loop(rows: int) -> None:
    """Run one query per customer id, differing in parameters: an N+1 of ``rows``."""
    for pk in range(1, rows + 1):
        list(Customer.objects.filter(pk=pk))


def test_ordinary_queries_wait_raw_until_read(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Three queries wait in the thread's log, then a read counts all three."""
    for _ in range(3):
        Customer.objects.count()

    assert waiting(fresh_monitor) == 3
    snapshot = fresh_monitor.collector.snapshot()

    assert waiting(fresh_monitor) == 0
    assert snapshot.query_total is not None and snapshot.query_total.count == 3
    assert snapshot.queries_outside_scopes == 3
    events = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    assert len(events) == 3
    assert all(e.scope is None and e.sql == e.fingerprint for e in events)


def snapshot_of_loop(monitor: PerformanceMonitor, eager: bool) -> dict[str, Any]:
    """Run a scope with a 20-query loop, 3 repeats and a count; return its data."""
    seen: list[Event] = []
    if eager:
        # A listener sends every query through record_query at once.
        monitor.collector.add_listener(seen.append)
    with monitor.scope("job"):
        lazy_loop(20)
        for _ in range(3):
            list(Customer.objects.filter(pk=7))
        Customer.objects.count()
    monitor.collector.remove_listener(seen.append)
    snapshot = monitor.collector.snapshot()
    (summary,) = snapshot.scopes
    queries = {
        shape: {k: v for k, v in data.items() if k != "stats"}
        for shape, data in snapshot.queries.items()
    }
    return {
        "count": summary.query_count,
        "n_plus_one": [(f.count, f.distinct_params) for f in summary.n_plus_one],
        "duplicates": [(d.count, d.call_sites) for d in summary.duplicates],
        "queries": queries,
        "counts": {s: d["stats"].count for s, d in snapshot.queries.items()},
        "total": snapshot.query_total.count if snapshot.query_total else 0,
        "recent": [
            (e.fingerprint, e.call_site, e.scope)
            for e in snapshot.recent_events
            if isinstance(e, QueryEvent)
        ],
        "slowest": len(snapshot.slowest_queries),
    }


def test_the_fold_finds_what_recording_each_query_at_once_finds(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """24 queries (an N+1 of 20, a triple, a count): the same findings either way."""
    folded = snapshot_of_loop(fresh_monitor, eager=False)
    fresh_monitor.reset()
    eager = snapshot_of_loop(fresh_monitor, eager=True)

    assert folded == eager
    assert folded["count"] == folded["total"] == len(folded["recent"]) == 24
    # The loop's 20 ids and the three repeats of id 7 share one shape.
    assert sorted(folded["counts"].values()) == [1, 23]
    assert folded["n_plus_one"] == [(20, 20)]
    # Id 7 ran four times: once in the loop, three times from the next line.
    ((count, call_sites),) = folded["duplicates"]
    assert count == 4 and len(call_sites) == 2


def test_a_scope_closing_folds_queries_another_thread_ran_in_it(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A scope closed in one thread counts the 4 queries a worker ran in it."""
    with fresh_monitor.scope("job") as scope:

        def worker() -> None:
            current_scope.set(scope)
            for _ in range(4):
                Customer.objects.count()

        Customer.objects.count()
        in_thread(worker)
        assert waiting(fresh_monitor) == 5

    (summary,) = fresh_monitor.collector.snapshot().scopes
    assert summary.query_count == 5
    assert fresh_monitor.collector.snapshot().queries_outside_scopes == 0


def test_a_read_in_one_thread_folds_a_live_thread_s_queries(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A snapshot taken while another thread still runs counts its 6 queries."""
    ran = threading.Event()
    done = threading.Event()

    def worker() -> None:
        for _ in range(6):
            Customer.objects.count()
        ran.set()
        done.wait(10)

    thread = threading.Thread(target=lambda: (worker(), connection.close()))
    thread.start()
    try:
        assert ran.wait(10)
        snapshot = fresh_monitor.collector.snapshot()
    finally:
        done.set()
        thread.join(10)
    assert snapshot.query_total is not None and snapshot.query_total.count == 6


def test_a_thread_folds_its_own_log_when_it_reaches_the_batch_size(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """QUERY_BATCH + 5 queries leave 5 waiting; the read counts them all."""
    for _ in range(QUERY_BATCH + 5):
        Customer.objects.count()

    assert waiting(fresh_monitor) == 5
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == QUERY_BATCH + 5


def test_reset_drops_the_waiting_queries(fresh_monitor: PerformanceMonitor) -> None:
    """Queries still raw at a reset go with everything else."""
    for _ in range(3):
        Customer.objects.count()
    fresh_monitor.reset()
    assert waiting(fresh_monitor) == 0
    assert fresh_monitor.collector.snapshot().query_total is None


def test_a_discarded_scope_s_queries_do_not_count_as_outside_scopes(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Two queries in a scope that is then discarded were still in a scope."""
    with fresh_monitor.scope("job") as job:
        Customer.objects.count()
        Customer.objects.count()
        fresh_monitor.collector.scope_discarded(job)
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None and snapshot.query_total.count == 2
    assert snapshot.queries_outside_scopes == 0


def test_a_query_a_finaliser_runs_during_the_fold_is_in_the_same_read(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator whose cleanup queries, collected inside the fold, is counted."""
    with gc_paused():
        leave_querying_garbage()
        Customer.objects.count()
        pending = collect_in_first_add_many(monkeypatch)
        snapshot = fresh_monitor.collector.snapshot()
    assert not pending
    assert snapshot.query_total is not None and snapshot.query_total.count == 2


def test_queries_past_max_fingerprints_fold_into_the_overflow_key(
    fresh_monitor: PerformanceMonitor, settings: Any
) -> None:
    """With room for 2 shapes, a third shape's 3 queries count as dropped."""
    settings.PERFPROBE = {"MAX_FINGERPRINTS": 2}
    fresh_monitor.reset()
    Customer.objects.count()
    list(Customer.objects.filter(pk=1))
    for _ in range(3):
        Customer.objects.exists()

    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.queries["(other)"]["stats"].count == 3
    assert snapshot.dropped_metrics == 3
    assert snapshot.query_total is not None and snapshot.query_total.count == 5


def test_a_finished_thread_s_queries_are_folded_when_a_thread_registers(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A new thread's first query folds the 3 queries a finished thread left."""

    def three() -> None:
        for _ in range(3):
            Customer.objects.count()

    in_thread(three)
    assert waiting(fresh_monitor) == 3
    in_thread(Customer.objects.count)

    # Only the second thread's own query still waits; the first's log is gone.
    assert waiting(fresh_monitor) == 1
    assert len(fresh_monitor.collector.thread_logs.logs) == 1
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None and snapshot.query_total.count == 4
