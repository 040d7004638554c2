"""Test that a repeated query's title counts what ran, across threads and runs.

The queries are real: the sample shop's customer 1 read with the same
parameters again and again, in worker threads handed the scope with
``monitor.propagate`` and in the main thread.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from apps.shop.models import Customer
from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.report import Recommendation

pytestmark = pytest.mark.django_db(transaction=True)


def _read_customer(times: int) -> None:
    """Read customer 1 ``times`` times with the same query."""
    for _ in range(times):
        Customer.objects.filter(pk=1).first()


def _in_threads(monitor: PerformanceMonitor, times: int, threads: int) -> None:
    """Read customer 1 ``times`` times in each of ``threads`` worker threads."""

    def work() -> None:
        try:
            _read_customer(times)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=monitor.propagate(work)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _repeats(monitor: PerformanceMonitor) -> Recommendation:
    recommendations = monitor.generate_report().recommendations
    (rec,) = [r for r in recommendations if r.rule_id == "duplicate-queries"]
    return rec


def test_one_scope_run_twice_is_counted_as_runs_with_every_query(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """2 threads x 8 reads, then 6 in a second run: 22 times in 2 runs, 16 at most."""
    ensure_sample_data()
    fresh_monitor.reset()

    with fresh_monitor.scope("nightly-import"):
        _in_threads(fresh_monitor, times=8, threads=2)
    with fresh_monitor.scope("nightly-import"):
        _read_customer(6)

    rec = _repeats(fresh_monitor)
    assert rec.evidence["count"] == 22
    assert rec.evidence["scope_count"] == 2
    assert rec.evidence["max_count_per_scope"] == 16
    assert rec.title.startswith("Identical query run 22 times at ")
    assert " in 2 runs of nightly-import (up to 16 in one run); " in rec.title


def test_nested_scopes_run_twice_are_runs_of_the_names_listed(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """8 reads in each of 2 batch scopes and 6 in their parent: 3 runs of 2."""
    ensure_sample_data()
    fresh_monitor.reset()

    def batch() -> None:
        with fresh_monitor.scope("batch"):
            _read_customer(8)

    with fresh_monitor.scope("nightly-import"):
        batch()
        batch()
        _read_customer(6)

    rec = _repeats(fresh_monitor)
    assert rec.evidence["count"] == 22
    assert rec.title.startswith("Identical query run 22 times at ")
    assert (
        " in 3 runs of 2 scopes (nightly-import/batch, nightly-import) "
        "(up to 8 in one scope); "
    ) in rec.title
