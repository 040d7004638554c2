"""The raw query path at its edges: threads, finalisers, failures, settings."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from django.db import connection

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, querylog
from perfprobe.events import QueryEvent

from .finalisers import collect_in_first_add_many, gc_paused, leave_querying_garbage

pytestmark = pytest.mark.django_db


def waiting(monitor: PerformanceMonitor) -> int:
    """Return how many raw queries wait in the monitor's thread logs."""
    return sum(len(log.queries) for log in monitor.collector.thread_logs.logs)


def run_in_thread(target: Any) -> None:
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


def test_the_default_monitor_keeps_ordinary_queries_raw(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The suite's own monitor takes the raw path (no block left open, no listener)."""
    Customer.objects.count()
    assert waiting(fresh_monitor) == 1


def test_one_failing_statement_loses_only_its_own_queries(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fold that fails on one statement still adds the other queries, and logs."""
    for _ in range(3):
        Customer.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41")
    Customer.objects.exists()
    original = querylog.fingerprint

    def fingerprint(sql: str, vendor: str | None = None) -> str:
        if sql == "SELECT 41":
            raise RuntimeError("broken statement")
        return original(sql, vendor)

    monkeypatch.setattr(querylog, "fingerprint", fingerprint)
    with caplog.at_level(logging.ERROR, logger="perfprobe.collector"):
        snapshot = fresh_monitor.collector.snapshot()

    assert snapshot.query_total is not None and snapshot.query_total.count == 4
    events = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    assert len(events) == 4
    assert any(r.name == "perfprobe.collector" for r in caplog.records)


def test_a_finaliser_querying_in_a_reader_thread_without_a_log(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read from another thread: a query its finaliser runs in the fold counts."""
    snapshots = []
    collections: list[list[bool]] = []

    def read() -> None:
        # Made in this thread, so that collecting it queries here.
        leave_querying_garbage()
        Customer.objects.count()  # the thread registers here
        collections.append(
            collect_in_first_add_many(
                monkeypatch, lambda: threading.current_thread().name == "reader"
            )
        )
        snapshots.append(fresh_monitor.collector.snapshot())

    with gc_paused():
        Customer.objects.count()
        thread = threading.Thread(
            target=lambda: (read(), connection.close()), name="reader"
        )
        thread.start()
        thread.join(10)
    (pending,) = collections
    assert not pending
    (snapshot,) = snapshots
    assert snapshot.query_total is not None and snapshot.query_total.count == 3


def test_many_short_threads_reusing_idents_are_each_counted(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """40 threads, one after another (idents reused), 3 queries each: 120 counted."""

    def three() -> None:
        for _ in range(3):
            Customer.objects.count()

    idents = set()
    for _ in range(40):
        thread = threading.Thread(target=lambda: (three(), connection.close()))
        thread.start()
        thread.join(10)
        idents.add(thread.ident)
    # Finished threads' logs are folded and released as new threads come.
    assert len(fresh_monitor.collector.thread_logs.logs) <= 2
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None and snapshot.query_total.count == 120
    events = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    assert {e.thread_id for e in events} <= idents


def test_a_scope_of_one_thread_counts_the_queries_of_its_workers(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Four workers each run 5 queries in the scope handed to them: 20 in it."""
    from contextvars import copy_context

    with fresh_monitor.scope("fan-out"):
        workers = []
        for _ in range(4):
            context = copy_context()

            def five() -> None:
                for _ in range(5):
                    Customer.objects.count()
                connection.close()

            workers.append(threading.Thread(target=context.run, args=(five,)))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
    snapshot = fresh_monitor.collector.snapshot()
    (summary,) = [s for s in snapshot.scopes if s.name == "fan-out"]
    assert summary.query_count == 20
    assert snapshot.queries_outside_scopes == 0


def test_a_reset_while_another_thread_waits_drops_only_earlier_queries(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """3 queries before a reset, 2 after, in a live thread: the read counts 2."""
    ran, go = threading.Event(), threading.Event()

    def worker() -> None:
        for _ in range(3):
            Customer.objects.count()
        ran.set()
        go.wait(10)
        for _ in range(2):
            Customer.objects.count()
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert ran.wait(10)
    assert waiting(fresh_monitor) == 3
    fresh_monitor.reset()
    go.set()
    thread.join(10)
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None and snapshot.query_total.count == 2


def test_a_thread_that_never_reads_keeps_at_most_a_batch_waiting(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """5,000 queries and no read: never more than QUERY_BATCH - 1 wait raw."""
    most = 0
    for _ in range(5000):
        Customer.objects.count()
        most = max(most, waiting(fresh_monitor))
    assert most == querylog.QUERY_BATCH - 1
    recent = fresh_monitor.collector._recent
    assert recent.maxlen is not None and len(recent) <= recent.maxlen
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None and snapshot.query_total.count == 5000


def test_queries_waiting_when_the_monitor_is_replaced_stay_with_the_old_one(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 queries before the swap, 3 after: each monitor reads its own."""
    from perfprobe import monitoring
    from perfprobe.collector import Collector

    for _ in range(2):
        Customer.objects.count()
    other = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", other)
    for _ in range(3):
        Customer.objects.count()
    old = fresh_monitor.collector.snapshot().query_total
    new = other.collector.snapshot().query_total
    assert old is not None and old.count == 2
    assert new is not None and new.count == 3


@pytest.mark.parametrize("switch", ["ENABLED", "INSTRUMENT_DATABASE"])
def test_queries_waiting_when_a_switch_turns_off_are_still_counted(
    fresh_monitor: PerformanceMonitor, settings: Any, switch: str
) -> None:
    """2 queries, then the switch off and 3 more: the read counts the 2."""
    for _ in range(2):
        Customer.objects.count()
    settings.PERFPROBE = {switch: False}
    for _ in range(3):
        Customer.objects.count()
    total = fresh_monitor.collector.snapshot().query_total
    assert total is not None and total.count == 2


def test_a_listener_added_while_queries_wait_hears_only_later_ones(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """As documented, from now on: 2 waiting are counted, not sent; 3 later are."""
    heard: list[Any] = []
    for _ in range(2):
        Customer.objects.count()
    fresh_monitor.collector.add_listener(heard.append)
    try:
        for _ in range(3):
            Customer.objects.count()
        snapshot = fresh_monitor.collector.snapshot()
    finally:
        fresh_monitor.collector.remove_listener(heard.append)
    assert len([e for e in heard if isinstance(e, QueryEvent)]) == 3
    assert snapshot.query_total is not None and snapshot.query_total.count == 5
    events = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    # A thread's queries keep their order: the waiting ones come first.
    assert [e.started_at for e in events] == sorted(e.started_at for e in events)


def test_async_code_querying_through_sync_to_async_counts_in_its_scope(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """5 queries of an async function, run by sync_to_async, count in its scope."""
    from asgiref.sync import async_to_sync, sync_to_async

    async def job() -> None:
        with fresh_monitor.scope("async-job"):
            for _ in range(4):
                await sync_to_async(Customer.objects.count)()
            await sync_to_async(Customer.objects.exists)()

    async_to_sync(job)()
    snapshot = fresh_monitor.collector.snapshot()
    (summary,) = [s for s in snapshot.scopes if s.name == "async-job"]
    assert summary.query_count == 5
    assert snapshot.query_total is not None and snapshot.query_total.count == 5
    assert snapshot.queries_outside_scopes == 0


def test_a_batch_taken_by_a_read_first_folds_nothing_and_logs_nothing(
    fresh_monitor: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread's full batch already folded by another thread's read: no failure.

    The recorder asks for its thread's batch to be folded once it holds
    QUERY_BATCH records; a snapshot in another thread may take them between
    that and the lock. The empty batch then failed in the totals (``max()``
    of no durations, once the slowest queries were full), logged as
    'perfprobe failed to add queries' with a traceback, which also put
    every later real failure of the fold at DEBUG.
    """
    collector = fresh_monitor.collector
    limit = collector._conf.MAX_SLOW_QUERIES
    with connection.cursor() as cursor:
        for index in range(limit + 5):
            cursor.execute("SELECT %s", [index])
    log = collector.thread_logs.register()
    assert len(log.queries) == limit + 5
    # The other thread's read, then this thread's fold of its own batch.
    run_in_thread(collector.snapshot)
    assert not log.queries
    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        collector.fold_thread_queries(log)

    assert [r.getMessage() for r in caplog.records] == []
    assert collector.snapshot().query_total.count == limit + 5
