"""Tests for N+1 and duplicate detection over real, instrumented ORM queries."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from apps.shop.models import Customer, Order, Product, Profile
from perfprobe import PerformanceMonitor
from perfprobe.events import LazyLoad, QueryEvent

pytestmark = pytest.mark.django_db

Queries = Callable[[], list[QueryEvent]]
THIS_FILE = os.path.relpath(os.path.abspath(__file__), settings.BASE_DIR)
CUSTOMER_LOAD = LazyLoad(
    "Order", "customer", "forward foreign key", 'select_related("customer")'
)


def caller_line() -> int:
    """Return the line number the caller is on."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def make_orders(count: int) -> None:
    """Create ``count`` orders, each for a different customer with a profile."""
    for i in range(count):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Profile.objects.create(customer=customer, country="FR")
        Order.objects.create(customer=customer)


def customer_list_view() -> dict[str, list[int]]:
    """Return each customer's order ids, the way a list view should fetch them."""
    customers = Customer.objects.prefetch_related("orders")
    return {c.name: [o.pk for o in c.orders.all()] for c in customers}


def test_lazy_foreign_key_loop_is_one_n_plus_one(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Seven order.customer loads in a loop are one finding naming the fix."""
    make_orders(7)
    names = []
    with fresh_monitor.scope("orders") as scope:
        for order in Order.objects.all():
            line = caller_line() + 1
            names.append(order.customer.name)
    assert len(names) == 7
    summary = scope.summary
    assert summary.query_count == 8
    (finding,) = summary.n_plus_one
    assert finding.count == 7
    assert finding.distinct_params == 7
    assert finding.call_site == f"{THIS_FILE}:{line}"
    assert finding.lazy_load == CUSTOMER_LOAD
    assert finding.scope == "orders"
    assert summary.duplicates == ()


def test_select_related_is_not_flagged(fresh_monitor: PerformanceMonitor) -> None:
    """The same loop over select_related() runs one query and finds nothing."""
    make_orders(7)
    with fresh_monitor.scope("orders") as scope:
        names = [o.customer.name for o in Order.objects.select_related("customer")]
    assert len(names) == 7
    assert scope.summary.query_count == 1
    assert scope.summary.n_plus_one == ()


def test_prefetch_related_list_view_is_not_flagged(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A list view using prefetch_related("orders") runs two queries, no finding."""
    make_orders(7)
    with fresh_monitor.scope("customer-list") as scope:
        orders_by_customer = customer_list_view()
    assert sum(len(ids) for ids in orders_by_customer.values()) == 7
    assert scope.summary.query_count == 2
    assert scope.summary.n_plus_one == ()
    assert scope.summary.duplicates == ()


def test_reverse_foreign_key_loop_names_prefetch_related(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Without the prefetch, customer.orders in a loop is flagged with the fix."""
    make_orders(6)
    with fresh_monitor.scope("customer-list") as scope:
        for customer in Customer.objects.all():
            line = caller_line() + 1
            assert len(customer.orders.all()) == 1
    (finding,) = scope.summary.n_plus_one
    assert (finding.count, finding.call_site) == (6, f"{THIS_FILE}:{line}")
    assert finding.lazy_load == LazyLoad(
        "Customer", "orders", "reverse foreign key", 'prefetch_related("orders")'
    )


def test_interleaved_queries_are_still_detected(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Two lazy loads and a repeated count, interleaved, are each found."""
    make_orders(7)
    with fresh_monitor.scope("report") as scope:
        for order in Order.objects.all():
            customer_line = caller_line() + 1
            customer = order.customer
            profile_line = caller_line() + 1
            assert customer.profile.country == "FR"
            Customer.objects.count()
    summary = scope.summary
    assert summary.query_count == 1 + 7 * 3
    found = {f.call_site: (f.count, f.lazy_load) for f in summary.n_plus_one}
    assert found == {
        f"{THIS_FILE}:{customer_line}": (7, CUSTOMER_LOAD),
        f"{THIS_FILE}:{profile_line}": (
            7,
            LazyLoad(
                "Customer",
                "profile",
                "reverse one-to-one",
                'select_related("profile")',
            ),
        ),
    }
    # The count never varies, so it is a duplicate rather than an N+1.
    (duplicate,) = summary.duplicates
    assert duplicate.count == 7
    assert duplicate.sample_sql.startswith("SELECT COUNT(*)")


def test_the_same_query_twice_is_a_duplicate(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Running one query with the same parameters twice is a duplicate finding."""
    make_orders(1)
    with fresh_monitor.scope("page") as scope:
        first = Customer.objects.get(name="c0")
        line = caller_line() + 1
        second = Customer.objects.get(name="c0")
    assert first == second
    (duplicate,) = scope.summary.duplicates
    assert duplicate.count == 2
    assert f"{THIS_FILE}:{line}" in duplicate.call_sites
    assert scope.summary.n_plus_one == ()


def test_a_short_loop_is_below_the_threshold(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Four lazy loads stay under the default minimum of five."""
    make_orders(4)
    with fresh_monitor.scope("orders") as scope:
        names = [order.customer.name for order in Order.objects.all()]
    assert len(names) == 4
    assert scope.summary.n_plus_one == ()


def test_the_threshold_is_a_setting(fresh_monitor: PerformanceMonitor) -> None:
    """With N_PLUS_ONE_MIN_QUERIES at 3, three lazy loads are a finding."""
    make_orders(3)
    with override_settings(PERFPROBE={"N_PLUS_ONE_MIN_QUERIES": 3}):
        fresh_monitor.reset()
        with fresh_monitor.scope("orders") as scope:
            names = [order.customer.name for order in Order.objects.all()]
    assert len(names) == 3
    (finding,) = scope.summary.n_plus_one
    assert finding.count == 3


def test_two_call_sites_make_two_findings(fresh_monitor: PerformanceMonitor) -> None:
    """The same lazy load from two lines is reported once per line."""
    make_orders(5)
    with fresh_monitor.scope("orders") as scope:
        orders = list(Order.objects.all())
        first_line = caller_line() + 1
        first = [order.customer.name for order in orders]
        for order in orders:
            Order.customer.field.delete_cached_value(order)
        second_line = caller_line() + 1
        second = [order.customer.name for order in orders]
    assert first == second
    sites = sorted(f.call_site for f in scope.summary.n_plus_one)
    assert sites == sorted(f"{THIS_FILE}:{n}" for n in (first_line, second_line))


def new_products(count: int, prefix: str = "p") -> list[Product]:
    """Return ``count`` unsaved products with distinct SKUs."""
    return [
        Product(sku=f"{prefix}{i}", name="x", category="c", price=1)
        for i in range(count)
    ]


def test_one_bulk_create_in_batches_is_not_flagged(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """A single bulk_create() of 2000 rows, run in batches, finds nothing."""
    with fresh_monitor.scope("import") as scope:
        Product.objects.bulk_create(new_products(2000))
    if connection.vendor == "sqlite":
        # SQLite takes 999 parameters per statement and a product row has
        # four columns besides its id: 249 rows per INSERT, so nine INSERTs.
        assert scope.summary.query_count == 9
    else:
        # PostgreSQL has no such limit: Django sends one INSERT, so run the
        # batching check with a batch size given.
        assert scope.summary.query_count == 1
        fresh_monitor.reset()
        with fresh_monitor.scope("import") as scope:
            Product.objects.bulk_create(new_products(2000, "q"), batch_size=250)
        assert scope.summary.query_count == 8
    events = recorded_queries()
    assert len({event.bulk_call for event in events}) == 1
    assert events[0].bulk_call != 0
    assert scope.summary.n_plus_one == ()
    assert scope.summary.duplicates == ()


def test_one_bulk_update_and_one_delete_are_not_flagged(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """bulk_update() and delete() of 2000 rows, each in batches, find nothing."""
    Product.objects.bulk_create(new_products(2000))
    products = list(Product.objects.all())
    for product in products:
        product.name = "renamed"
    fresh_monitor.reset()
    with fresh_monitor.scope("update") as updated:
        Product.objects.bulk_update(products, ["name"], batch_size=100)
    with fresh_monitor.scope("delete") as deleted:
        Product.objects.all().delete()
    assert Product.objects.count() == 0
    assert updated.summary.query_count == 20
    # The deletion reads the products and their related rows, then deletes
    # 100 rows per statement: more than twenty queries, all one call.
    assert deleted.summary.query_count > 20
    calls: dict[str | None, set[int]] = {}
    for event in recorded_queries():
        calls.setdefault(event.scope, set()).add(event.bulk_call)
    (update_call,), (delete_call,) = calls["update"], calls["delete"]
    assert 0 != update_call != delete_call != 0
    for scope in (updated, deleted):
        assert scope.summary.n_plus_one == ()
        assert scope.summary.duplicates == ()


def test_writes_in_a_loop_are_still_flagged(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Ten create(), save(), delete() or one-row bulk_create() calls are N+1."""
    with fresh_monitor.scope("create") as created:
        for i in range(10):
            Product.objects.create(sku=f"c{i}", name="x", category="c", price=1)
    products = list(Product.objects.all())
    with fresh_monitor.scope("save") as saved:
        for product in products:
            product.price = 2
            product.save()
    with fresh_monitor.scope("delete") as deleted:
        for product in products:
            product.delete()
    with fresh_monitor.scope("bulk") as bulk:
        for product in new_products(10, prefix="b"):
            Product.objects.bulk_create([product])
    for scope, statement in (
        (created, "INSERT"),
        (saved, "UPDATE"),
        (deleted, "DELETE"),
        (bulk, "INSERT"),
    ):
        counts = {
            f.fingerprint.split(" ", 1)[0]: f.count for f in scope.summary.n_plus_one
        }
        assert counts.get(statement) == 10, scope.name
