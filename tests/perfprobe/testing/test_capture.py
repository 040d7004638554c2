"""Tests for perfprobe.testing.capture: which queries count for a block."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, connections

from apps.shop.models import Customer, Order, Product
from perfprobe import PerformanceMonitor
from perfprobe.testing import QueryCapture

pytestmark = pytest.mark.django_db


def in_thread(target: Callable[[], object]) -> None:
    """Run ``target`` in a new thread that closes its connections, and wait."""

    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()


def test_counts_each_query_by_shape_and_call_site() -> None:
    """Three ORM calls, one of them twice, give three groups and four queries."""
    with QueryCapture() as capture:
        Product.objects.count()
        for _ in range(2):
            list(Customer.objects.all())
        Customer.objects.filter(pk=7).exists()

    assert capture.count == 4
    groups = capture.groups()
    assert [g.count for g in groups] == [2, 1, 1]
    assert groups[0].fingerprint.startswith('SELECT "shop_customer"."id"')
    assert groups[1].fingerprint == 'SELECT COUNT(*) AS "__count" FROM "shop_product"'
    assert all(g.call_site and "test_capture.py:" in g.call_site for g in groups)


def test_queries_before_and_after_the_block_do_not_count(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Only the query inside the block counts, and the listener is gone after."""
    capture = QueryCapture()
    Product.objects.count()
    with capture:
        Product.objects.exists()
    Product.objects.count()

    assert capture.count == 1
    assert capture._on_event not in fresh_monitor.collector._listeners.items


def test_nested_captures_both_count_the_inner_queries() -> None:
    """The outer block counts its own query and the two of the inner block."""
    with QueryCapture() as outer:
        Product.objects.count()
        with QueryCapture() as inner:
            Product.objects.count()
            Customer.objects.count()

    assert (outer.count, inner.count) == (3, 2)


def test_a_thread_given_the_context_counts_and_a_bare_thread_does_not(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A worker run through monitor.propagate() inside the block counts; others not."""
    with QueryCapture() as capture:
        in_thread(fresh_monitor.propagate(Product.objects.count))
        in_thread(Customer.objects.count)

    assert capture.count == 1
    (group,) = capture.groups()
    assert "shop_product" in group.fingerprint


def test_a_query_of_async_code_run_through_sync_to_async_counts() -> None:
    """async_to_sync and sync_to_async carry the block's context to the query."""

    async def view() -> int:
        return await sync_to_async(Product.objects.count)()

    with QueryCapture() as capture:
        assert async_to_sync(view)() == 0

    assert capture.count == 1


def test_lazy_loads_in_a_loop_are_an_n_plus_one_with_the_relation() -> None:
    """Six lazy loads of Order.customer from one line are one N+1 finding."""
    for i in range(6):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Order.objects.create(customer=customer)

    with QueryCapture() as capture:
        names = [order.customer.name for order in Order.objects.all()]

    assert len(names) == 6
    (finding,) = capture.n_plus_one(5)
    assert finding.count == 6
    assert finding.lazy_load is not None
    assert (finding.lazy_load.model, finding.lazy_load.field) == ("Order", "customer")
    assert capture.n_plus_one(7) == []


def test_a_capture_can_be_used_again_and_starts_empty() -> None:
    """Entering the same capture a second time forgets the first block."""
    capture = QueryCapture()
    with capture:
        Product.objects.count()
        Product.objects.count()
    with capture:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    assert capture.count == 1
    assert capture.groups()[0].fingerprint == "SELECT ?"
