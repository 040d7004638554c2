"""Tests for perfprobe.db.lazyload: naming the implicit query Django ran."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import django
import pytest
from django.contrib.auth.models import Group, User

from apps.shop.models import Customer, Order, OrderItem, Product, Profile
from perfprobe import PerformanceMonitor
from perfprobe.db import lazyload
from perfprobe.events import LazyLoad, QueryEvent

pytestmark = pytest.mark.django_db

Queries = Callable[[], list[QueryEvent]]
DJANGO_DIR = os.path.dirname(os.path.abspath(django.__file__))


def make_customers(count: int) -> list[Customer]:
    """Create ``count`` customers, each with a profile and one order."""
    customers = []
    for i in range(count):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Profile.objects.create(customer=customer, country="FR")
        Order.objects.create(customer=customer)
        customers.append(customer)
    return customers


def make_users_in_groups(count: int) -> None:
    """Create ``count`` users, each in its own group."""
    for i in range(count):
        user = User.objects.create(username=f"u{i}")
        user.groups.add(Group.objects.create(name=f"g{i}"))


def lazy_loads(queries: Queries) -> list[LazyLoad | None]:
    """Return the lazy load of every recorded query, in order."""
    return [event.lazy_load for event in queries()]


def test_forward_foreign_key(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """order.customer names Order.customer and suggests select_related."""
    make_customers(1)
    order = Order.objects.get()
    fresh_monitor.reset()
    assert order.customer.name == "c0"
    assert lazy_loads(recorded_queries) == [
        LazyLoad(
            "Order", "customer", "forward foreign key", 'select_related("customer")'
        )
    ]


def test_forward_one_to_one(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """profile.customer is a forward one-to-one load of Profile.customer."""
    make_customers(1)
    profile = Profile.objects.get()
    fresh_monitor.reset()
    assert profile.customer.name == "c0"
    assert lazy_loads(recorded_queries) == [
        LazyLoad(
            "Profile", "customer", "forward one-to-one", 'select_related("customer")'
        )
    ]


def test_reverse_one_to_one(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """customer.profile is a reverse one-to-one load named by its accessor."""
    make_customers(1)
    customer = Customer.objects.get()
    fresh_monitor.reset()
    assert customer.profile.country == "FR"
    assert lazy_loads(recorded_queries) == [
        LazyLoad(
            "Customer", "profile", "reverse one-to-one", 'select_related("profile")'
        )
    ]


def test_reverse_foreign_key_iterated_and_counted(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Iterating or counting customer.orders is a reverse foreign key load."""
    make_customers(1)
    customer = Customer.objects.get()
    fresh_monitor.reset()
    assert len(list(customer.orders.all())) == 1
    assert customer.orders.count() == 1
    expected = LazyLoad(
        "Customer", "orders", "reverse foreign key", 'prefetch_related("orders")'
    )
    assert lazy_loads(recorded_queries) == [expected, expected]


def test_many_to_many_both_directions(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """user.groups and group.user_set are many-to-many loads, by accessor."""
    make_users_in_groups(1)
    user, group = User.objects.get(), Group.objects.get()
    fresh_monitor.reset()
    assert [g.name for g in user.groups.all()] == ["g0"]
    assert user.groups.count() == 1
    assert [u.username for u in group.user_set.all()] == ["u0"]
    groups = LazyLoad("User", "groups", "many-to-many", 'prefetch_related("groups")')
    users = LazyLoad(
        "Group", "user_set", "many-to-many", 'prefetch_related("user_set")'
    )
    assert lazy_loads(recorded_queries) == [groups, groups, users]


def test_many_to_many_count_through_the_manager() -> None:
    """A many-to-many count() frame is named from its manager.

    Django answers such counts from the through table alone when the target
    model uses a plain Manager; the shop has no such relation, so the frame
    is built here around a real manager.
    """
    make_users_in_groups(1)
    manager = User.objects.get().groups

    def count(self: Any) -> FrameType:
        return sys._getframe()

    tracker = lazyload.LazyLoadTracker()
    tracker.observe(lazyload.M2M_READ, count(manager))
    assert tracker.result() == LazyLoad(
        "User", "groups", "many-to-many", 'prefetch_related("groups")'
    )


def test_deferred_field(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Reading a field left out by only() is a deferred field load."""
    make_customers(1)
    customer = Customer.objects.only("name").get()
    fresh_monitor.reset()
    assert customer.email == "c0@example.com"
    assert lazy_loads(recorded_queries) == [
        LazyLoad("Customer", "email", "deferred field", lazyload.DEFERRED_FIX)
    ]


def make_order_items(count: int) -> None:
    """Create ``count`` customers with one order of one item each."""
    product = Product.objects.create(sku="p", name="x", category="c", price=1)
    for customer in make_customers(count):
        order = customer.orders.get()
        OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=1)


def test_a_relation_after_select_related_names_the_whole_path(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """item.order.customer after select_related("order") extends that lookup."""
    make_order_items(2)
    fresh_monitor.reset()
    # Not asserted inside the loop: pytest would keep item.order in a local.
    names = [
        item.order.customer.name for item in OrderItem.objects.select_related("order")
    ]
    assert names == ["c0", "c1"]
    expected = LazyLoad(
        "Order",
        "customer",
        "forward foreign key",
        'select_related("order__customer")',
        via="OrderItem.order",
    )
    assert lazy_loads(recorded_queries) == [None, expected, expected]


def test_a_relation_after_prefetch_related_names_the_whole_path(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """item.product on prefetched order items extends the prefetch lookup."""
    make_order_items(2)
    # Two products, so that the two loads of item.product differ.
    OrderItem.objects.filter(pk=OrderItem.objects.last().pk).update(
        product=Product.objects.create(sku="q", name="y", category="c", price=1)
    )
    fresh_monitor.reset()
    skus = []
    for order in Order.objects.prefetch_related("items"):
        for item in order.items.all():
            skus.append(item.product.sku)
    assert skus == ["p", "q"]
    expected = LazyLoad(
        "OrderItem",
        "product",
        "forward foreign key",
        'prefetch_related("items__product")',
        via="Order.items",
    )
    assert lazy_loads(recorded_queries) == [None, None, expected, expected]


def test_a_cached_back_reference_is_not_taken_for_the_path(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """An order pointing back at its customer does not make customer.profile
    look as if it came through Order.customer."""
    make_customers(2)
    fresh_monitor.reset()
    for customer in Customer.objects.all():
        for order in customer.orders.all():
            assert order.customer is customer
        assert customer.profile.country == "FR"
    profile = LazyLoad(
        "Customer", "profile", "reverse one-to-one", 'select_related("profile")'
    )
    assert [
        load
        for load in lazy_loads(recorded_queries)
        if load and load.field == "profile"
    ] == [profile, profile]


def test_explicit_queries_are_not_lazy_loads(recorded_queries: Queries) -> None:
    """Querysets written out in user code, joins included, are not lazy loads."""
    (customer,) = make_customers(1)
    list(Order.objects.filter(customer=customer))
    list(Order.objects.select_related("customer"))
    Customer.objects.get(pk=customer.pk).refresh_from_db()
    Order.objects.filter(customer__name="c0").count()
    assert set(lazy_loads(recorded_queries)) == {None}


def test_prefetch_queries_are_not_lazy_loads(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """The queries prefetch_related() runs are the fix, never the finding."""
    make_customers(3)
    make_users_in_groups(2)
    fresh_monitor.reset()
    customers = list(Customer.objects.prefetch_related("orders", "profile"))
    users = list(User.objects.prefetch_related("groups"))
    orders = list(Order.objects.prefetch_related("customer"))
    assert sum(len(c.orders.all()) for c in customers) == 3
    assert sum(len(u.groups.all()) for u in users) == 2
    assert {o.customer.name for o in orders} == {"c0", "c1", "c2"}
    # Each base query plus one per prefetched relation: 3 + 2 + 2.
    assert len(recorded_queries()) == 7
    assert set(lazy_loads(recorded_queries)) == {None}


def test_related_manager_writes_are_not_lazy_loads(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """create(), add() and set() on a related manager are explicit calls."""
    (customer,) = make_customers(1)
    make_users_in_groups(1)
    user, group = User.objects.get(), Group.objects.get()
    fresh_monitor.reset()
    customer.orders.create()
    user.groups.set([group])
    user.groups.remove(group)
    assert recorded_queries()
    assert set(lazy_loads(recorded_queries)) == {None}


@pytest.mark.parametrize(
    ("module", "qualname", "kind"),
    [
        (
            "db/models/fields/related_descriptors.py",
            "ForwardManyToOneDescriptor.__get__",
            lazyload.FORWARD,
        ),
        (
            "db/models/fields/related_descriptors.py",
            "ReverseOneToOneDescriptor.__get__",
            lazyload.REVERSE_ONE,
        ),
        ("db/models/query_utils.py", "DeferredAttribute.__get__", lazyload.DEFERRED),
        ("db/models/query.py", "QuerySet._fetch_all", lazyload.QUERYSET),
        ("db/models/query.py", "prefetch_one_level", lazyload.PREFETCH),
        ("db/models/query.py", "QuerySet.bulk_create", lazyload.BULK_WRITE),
        ("db/models/query.py", "QuerySet.bulk_update", lazyload.BULK_WRITE),
        ("db/models/deletion.py", "Collector.collect", lazyload.DELETION),
        ("db/models/deletion.py", "Collector.delete", lazyload.DELETION),
        ("db/models/query.py", "ModelIterable.__iter__", lazyload.NONE),
        ("db/models/sql/compiler.py", "SQLCompiler.execute_sql", lazyload.NONE),
    ],
)
def test_frame_kinds_follow_djangos_layout(
    module: str, qualname: str, kind: int
) -> None:
    """Frames are recognised by Django module and qualified name only."""
    path = os.path.join(DJANGO_DIR, *module.split("/"))
    assert os.path.exists(path)
    assert lazyload.frame_kind(path, qualname) == kind
    assert lazyload.frame_kind("/elsewhere/" + module, qualname) == lazyload.NONE
