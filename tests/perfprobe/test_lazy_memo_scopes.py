"""The lazy-load memo lets go of a scope's entries when the scope closes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.shop.models import Customer, Order
from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.db import callsite

from .test_requestrecorder_pending import end_request, n_plus_one, open_request

pytestmark = pytest.mark.django_db

ORDERS = 6
SCOPES = 50


def test_closed_scopes_leave_no_lazy_loads_in_the_memo(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Fifty N+1 scopes: the memo keeps none of their lazy loads afterwards.

    It is keyed by scope id, and a closed scope's id never comes back, so
    its entries (each holding a LazyLoad) waited for the memo to fill at
    4,096 entries: fifty scopes' worth here, long enough for the cyclic
    collector to move them to its oldest generation.
    """
    for i in range(ORDERS):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@x.org")
        Order.objects.create(customer=customer)
    fresh_monitor.reset()
    callsite._lazy_memo.clear()
    ids = []
    for index in range(SCOPES):
        with fresh_monitor.scope(f"loop {index}") as scope:
            names = [order.customer.name for order in Order.objects.all()]
            ids.append(scope.id)
            # While the scope is open its loads are there to be found again.
            assert any(key[0] == scope.id for key in callsite._lazy_memo)
        assert names == [f"c{i}" for i in range(ORDERS)]
    fresh_monitor.collector.fold_queries()
    closed = set(ids)
    assert not [key for key in callsite._lazy_memo if key[0] in closed]
    # Each scope still found its N+1 through the memo.
    scopes = fresh_monitor.collector.snapshot().scopes
    assert [len(s.n_plus_one) for s in scopes] == [1] * SCOPES


class _CountedMemo(dict[Any, Any]):
    """A memo that counts the scans of its keys."""

    scans = 0

    def __iter__(self) -> Iterator[Any]:
        self.scans += 1
        return super().__iter__()


def test_waiting_request_scopes_leave_the_memo_in_one_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three waiting requests closed together: one scan drops their 3 loads.

    The load of a scope still open stays.
    """
    collector = Collector()
    memo = _CountedMemo()
    monkeypatch.setattr(callsite, "_lazy_memo", memo)
    scopes = [open_request(collector, "/a/") for _ in range(3)]
    still_open = open_request(collector, "/b/")
    for scope in (*scopes, still_open):
        memo[(scope.id, "SELECT 1", 5, 6, 1)] = f"load of {scope.id}"
    for scope in scopes:
        end_request(collector, scope, "/a/", n_plus_one(6))
    assert len(collector._pending) == 3

    collector.close_pending()

    assert memo.scans == 1
    assert list(memo) == [(still_open.id, "SELECT 1", 5, 6, 1)]
    assert collector._scopes.closed_count == 3
    assert [len(scope.summary.n_plus_one) for scope in scopes] == [1, 1, 1]
