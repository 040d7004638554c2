"""Tests for apps.debugging.scenarios.customers and the demo's ordering mix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios.customers import next_customer_ids
from apps.debugging.scenarios.database import N_PLUS_ONE_ORDERS
from apps.debugging.scenarios.load import load_endpoints
from apps.shop.models import Customer, Order
from apps.shop.sample_data import ensure_sample_data


def newest_order_customers(count: int) -> list[int]:
    """Return the customer ids of the ``count`` newest orders, newest first."""
    newest = Order.objects.order_by("-created_at", "-id")[:count]
    return [order.customer_id for order in newest]


def place_order(customer_id: int, minutes_from_now: int) -> None:
    """Place an empty order at a known time after every sample order."""
    Order.objects.create(
        customer_id=customer_id,
        created_at=timezone.now() + timedelta(minutes=minutes_from_now),
    )


def test_a_customer_who_never_ordered_comes_first(shop):
    """Customers without orders come before every customer with one."""
    newcomer = Customer.objects.create(name="New", email="new@example.com")

    assert next_customer_ids(1) == [newcomer.pk]


def test_the_least_recent_orderer_comes_next(shop):
    """After the newcomers, customers follow the date of their last order."""
    last_order = Customer.objects.annotate(last=Max("orders__created_at"))
    expected = list(last_order.order_by("last", "id").values_list("id", flat=True)[:3])

    assert next_customer_ids(3) == expected


def test_many_demo_runs_leave_the_newest_orders_with_distinct_customers(shop):
    """Thirty runs' orders keep the N+1 loop's orders on distinct customers.

    Ordering always for the first customer made the ten newest orders share
    one customer after about ten runs, which turned the demo's N+1 into a
    duplicate-query finding.
    """
    for run in range(30):
        place_order(next_customer_ids(1)[0], minutes_from_now=run + 1)

    customers = newest_order_customers(N_PLUS_ONE_ORDERS)
    assert len(set(customers)) == N_PLUS_ONE_ORDERS


def test_the_load_mix_rotates_orders_over_customers():
    """Each customer gets the five-route mix once; routes still cycle by five."""
    endpoints = load_endpoints([7, 8, 9], product_id=3)

    assert [e.key for e in endpoints[:5]] * 3 == [e.key for e in endpoints]
    orders = [e for e in endpoints if e.method == "POST"]
    assert [e.payload["customer_id"] for e in orders] == [7, 8, 9]
    profiles = [e.path for e in endpoints if "profile" in e.path]
    assert profiles == [f"/api/users/profile/?customer_id={pk}" for pk in (7, 8, 9)]


@pytest.mark.django_db(transaction=True)
def test_two_api_runs_order_for_two_customers_who_had_not_ordered_lately():
    """Each api_requests run orders for the customer who ordered least recently."""
    ensure_sample_data()
    expected = next_customer_ids(2)
    demo = PerformanceDemo(time_scale=0.02)
    demo.prepare()

    for _ in range(2):
        demo.run_full_demo(["api_requests"])

    assert newest_order_customers(2) == expected[::-1]
