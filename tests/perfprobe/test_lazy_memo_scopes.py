"""The lazy-load memo lets go of a scope's entries when the scope closes."""

from __future__ import annotations

import pytest

from apps.shop.models import Customer, Order
from perfprobe import PerformanceMonitor
from perfprobe.db import callsite

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
