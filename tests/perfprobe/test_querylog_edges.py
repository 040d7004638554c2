"""The raw query path at its edges: threads, finalisers, failures, settings."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, querylog
from perfprobe.events import QueryEvent
from perfprobe.stats import MetricStats

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

    def fingerprint(sql: str) -> str:
        if sql == "SELECT 41":
            raise RuntimeError("broken statement")
        return original(sql)

    monkeypatch.setattr(querylog, "fingerprint", fingerprint)
    with caplog.at_level(logging.ERROR, logger="perfprobe.collector"):
        snapshot = fresh_monitor.collector.snapshot()

    assert snapshot.query_total is not None and snapshot.query_total.count == 4
    events = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    assert len(events) == 4
    assert any(r.name == "perfprobe.collector" for r in caplog.records)


class _SelfReferencing:
    """Hold a generator started up to its first ``yield``, in a reference cycle."""

    def __init__(self, generator: Iterator[None]) -> None:
        next(generator)
        self.generator = generator
        self.me = self


def test_a_finaliser_querying_in_a_reader_thread_without_a_log(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read from another thread: a query its finaliser runs in the fold counts."""

    def rows() -> Iterator[None]:
        try:
            yield
        finally:
            Customer.objects.count()

    original = MetricStats.add_many
    pending = [True]
    snapshots = []

    def add_many(self: MetricStats, values: Any) -> None:
        if pending and threading.current_thread().name == "reader":
            pending.clear()
            gc.collect()
        original(self, values)

    def read() -> None:
        # Made in this thread, so that collecting it queries here.
        _SelfReferencing(rows())
        Customer.objects.count()  # the thread registers here
        monkeypatch.setattr(MetricStats, "add_many", add_many)
        snapshots.append(fresh_monitor.collector.snapshot())

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        Customer.objects.count()
        thread = threading.Thread(
            target=lambda: (read(), connection.close()), name="reader"
        )
        thread.start()
        thread.join(10)
    finally:
        if was_enabled:
            gc.enable()
    assert not pending
    (snapshot,) = snapshots
    assert snapshot.query_total is not None and snapshot.query_total.count == 3
