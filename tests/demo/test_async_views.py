"""Tests for the shop's async endpoints and its thread-pool endpoint."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from apps.shop.models import Customer, Order, Product
from perfprobe import PerformanceMonitor


def get_async(path: str) -> Any:
    """Send a GET through Django's async test client and return the response."""
    return async_to_sync(AsyncClient().get)(path)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "query parameter ms is required"),
        ("?ms=", "query parameter ms is required"),
        ("?ms=abc", "ms must be an integer, got 'abc'"),
        ("?ms=-1", "ms must be >= 0 and <= 5000, got -1"),
        ("?ms=5001", "ms must be >= 0 and <= 5000, got 5001"),
        ("?ms=1.5", "ms must be an integer, got '1.5'"),
    ],
)
def test_sleep_rejects_a_bad_ms_with_a_json_400(query: str, message: str) -> None:
    """A missing, non-integer or out-of-range ms is a 400 naming the problem."""
    response = get_async(f"/api/async/sleep/{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": message}


@pytest.mark.parametrize("ms", [0, 5000])
def test_sleep_accepts_both_ends_of_its_range(
    ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 and 5000 are valid; the sleep is asked for in seconds."""
    asked: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr("apps.shop.async_views.asyncio.sleep", fake_sleep)
    response = get_async(f"/api/async/sleep/?ms={ms}")

    assert response.status_code == 200
    assert response.json() == {"slept_ms": ms}
    assert asked == [ms / 1000]


def test_sleep_waits_at_least_the_asked_time() -> None:
    """?ms=60 answers no sooner than 60 ms after the request was sent."""
    started = time.perf_counter()
    response = get_async("/api/async/sleep/?ms=60")
    elapsed_s = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed_s >= 0.060


def test_sleep_allows_only_get() -> None:
    """A POST to the sleep endpoint is refused with 405."""
    response = async_to_sync(AsyncClient().post)("/api/async/sleep/?ms=0")

    assert response.status_code == 405


@pytest.mark.django_db
@pytest.mark.usefixtures("shop")
def test_async_order_detail_returns_the_order_in_three_queries() -> None:
    """The async ORM view answers with the order's lines in exactly 3 queries."""
    order = Order.objects.prefetch_related("items").order_by("pk").first()
    assert order is not None
    expected_items = sorted(item.product_id for item in order.items.all())
    expected_orders = Order.objects.filter(customer_id=order.customer_id).count()

    with CaptureQueriesContext(connection) as queries:
        response = get_async(f"/api/async/orders/{order.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == order.pk
    assert sorted(item["product_id"] for item in data["items"]) == expected_items
    assert data["customer_order_count"] == expected_orders
    # Django's own query log, independent of perfprobe.
    assert len(queries) == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("shop")
def test_async_order_detail_of_a_missing_order_is_a_json_404() -> None:
    """An unknown order id is a 404 with the API's error body."""
    response = get_async("/api/async/orders/999999/")

    assert response.status_code == 404
    assert response.json() == {"error": "order 999999 does not exist"}


@pytest.mark.django_db
@pytest.mark.usefixtures("shop")
def test_async_customer_returns_recent_orders_in_two_queries() -> None:
    """The sync_to_async view answers with the five latest orders in 2 queries."""
    customer = Customer.objects.order_by("pk").first()
    assert customer is not None
    latest = list(
        customer.orders.order_by("-created_at", "-id").values_list("pk", flat=True)[:5]
    )

    with CaptureQueriesContext(connection) as queries:
        response = get_async(f"/api/async/customers/{customer.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert data["email"] == customer.email
    assert data["profile"] is not None
    assert [o["id"] for o in data["recent_orders"]] == latest
    assert len(queries) == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("shop")
def test_async_customer_of_a_missing_customer_is_a_json_404() -> None:
    """NotFound raised inside sync_to_async still becomes the API's 404."""
    response = get_async("/api/async/customers/999999/")

    assert response.status_code == 404
    assert response.json() == {"error": "customer 999999 does not exist"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "query parameter ids is required"),
        ("?ids=1,x", "ids must be an integer, got 'x'"),
        ("?ids=0", "ids must be >= 1, got 0"),
        ("?ids=" + ",".join(["1"] * 21), "ids may name at most 20 products"),
        ("?ids=1&propagate=yes", "propagate must be 0 or 1, got 'yes'"),
    ],
)
def test_parallel_products_rejects_bad_input(query: str, message: str) -> None:
    """Malformed ids or propagate values are a 400 before any thread starts."""
    response = Client().get(f"/api/products/parallel/{query}")

    assert response.status_code == 400
    assert response.json() == {"error": message}


@pytest.fixture
def committed_products(transactional_db: None) -> list[int]:
    """Commit five products, so pool threads (other connections) can read them."""
    products = Product.objects.bulk_create(
        Product(sku=f"SKU-P{n}", name=f"Product {n}", category="toys", price=n)
        for n in range(1, 6)
    )
    return [p.pk for p in products]


def test_parallel_products_loads_every_product_in_its_request_scope(
    committed_products: list[int], fresh_monitor: PerformanceMonitor
) -> None:
    """Four products cost four queries, all counted in the request's scope."""
    ids = committed_products[:4]
    fresh_monitor.reset()

    response = Client().get(f"/api/products/parallel/?ids={','.join(map(str, ids))}")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == ids
    (summary,) = fresh_monitor.collector.snapshot().scopes
    assert summary.name == "GET /api/products/parallel/"
    assert summary.query_count == 4


def test_parallel_products_without_propagation_counts_outside_the_scope(
    committed_products: list[int], fresh_monitor: PerformanceMonitor
) -> None:
    """With ?propagate=0 the three queries are in the totals, not the request."""
    ids = ",".join(map(str, committed_products[:3]))
    fresh_monitor.reset()

    response = Client().get(f"/api/products/parallel/?ids={ids}&propagate=0")

    assert response.status_code == 200
    snapshot = fresh_monitor.collector.snapshot()
    (summary,) = snapshot.scopes
    assert summary.query_count == 0
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 3
    assert snapshot.queries_outside_scopes == 3


def test_parallel_products_names_missing_ids_in_a_404(
    committed_products: list[int],
) -> None:
    """Ids that name no product are listed in the 404's message."""
    known = committed_products[0]
    missing = max(committed_products) + 100

    response = Client().get(f"/api/products/parallel/?ids={known},{missing}")

    assert response.status_code == 404
    assert response.json() == {"error": f"unknown product id: {missing}"}
