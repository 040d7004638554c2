"""Tests for the sample shop's data and JSON API."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.shop.latency import NOMINAL_LATENCY_S, set_latency_scale
from apps.shop.models import Customer, Inventory, Order, OrderItem, Product, Profile
from apps.shop.sample_data import ensure_sample_data
from tests.demo.backend import sleep_call, slept_s

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shop")]


def _send(client: Client, method: str, url: str, body: Any) -> Any:
    """Send ``body`` as JSON with ``method`` and return the response."""
    payload = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(url, payload, content_type="application/json")


def _snapshot() -> list[Any]:
    """Return the shop's rows without primary keys, to compare seedings."""
    customers = list(
        Customer.objects.values_list(
            "name", "email", "created_at", "profile__country", "profile__loyalty_points"
        )
    )
    products = list(
        Product.objects.values_list(
            "sku", "name", "category", "price", "inventory__quantity"
        )
    )
    orders = [
        (
            order.customer.email,
            order.status,
            order.created_at,
            order.total,
            [
                (item.product.sku, item.quantity, item.unit_price)
                for item in order.items.all()
            ],
        )
        for order in Order.objects.select_related("customer").prefetch_related(
            "items__product"
        )
    ]
    return [customers, products, orders]


def _first_in_stock_product() -> Product:
    """Return a product with at least ten units in stock."""
    return Product.objects.filter(inventory__quantity__gte=10).first()


# Sample data


def test_sample_data_row_counts():
    """The sample shop holds 50 customers, 200 products and 500 orders."""
    assert Customer.objects.count() == 50
    assert Profile.objects.count() == 50
    assert Product.objects.count() == 200
    assert Inventory.objects.count() == 200
    assert Order.objects.count() == 500
    assert 500 <= OrderItem.objects.count() <= 2000


def test_sample_data_is_created_only_once():
    """ensure_sample_data() does nothing and returns False on a filled shop."""
    assert ensure_sample_data() is False
    assert Customer.objects.count() == 50


def test_sample_data_is_deterministic_and_fast():
    """Re-seeding with the same seed reproduces every row in well under 2 s."""
    before = _snapshot()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    Product.objects.all().delete()

    started = time.perf_counter()
    assert ensure_sample_data() is True
    elapsed_s = time.perf_counter() - started

    assert _snapshot() == before
    assert elapsed_s < 2.0


def test_order_totals_match_their_lines():
    """Each sample order's total is the sum of its lines."""
    for order in Order.objects.prefetch_related("items")[:50]:
        lines = sum(item.quantity * item.unit_price for item in order.items.all())
        assert order.total == lines


# Injected latency


_REQUESTS = {
    "product-list": ("get", lambda: reverse("shop:product-list"), None),
    "order-create": (
        "post",
        lambda: reverse("shop:order-create"),
        lambda: {
            "customer_id": Customer.objects.first().pk,
            "items": [{"product_id": _first_in_stock_product().pk, "quantity": 1}],
        },
    ),
    "order-detail": (
        "get",
        lambda: reverse("shop:order-detail", args=[Order.objects.first().pk]),
        None,
    ),
    "user-profile": (
        "get",
        lambda: (
            reverse("shop:user-profile") + f"?customer_id={Customer.objects.first().pk}"
        ),
        None,
    ),
    "inventory-update": (
        "put",
        lambda: reverse("shop:inventory-update"),
        lambda: {"product_id": Product.objects.first().pk, "quantity": 7},
    ),
    "analytics-dashboard": ("get", lambda: reverse("shop:analytics-dashboard"), None),
    "order-invoice": (
        "get",
        lambda: reverse("shop:order-invoice", args=[Order.objects.first().pk]),
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(_REQUESTS))
def test_endpoint_spends_its_scaled_nominal_latency_in_one_query(name, lenient_client):
    """Each endpoint sleeps its scaled nominal latency, in one query."""
    method, url, body = _REQUESTS[name]
    request_url = url()
    request_body = body() if body else None
    set_latency_scale(0.1)
    expected_s = NOMINAL_LATENCY_S[name] * 0.1

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        if request_body is None:
            getattr(lenient_client, method)(request_url)
        else:
            _send(lenient_client, method, request_url, request_body)
        elapsed_s = time.perf_counter() - started

    delayed = [q["sql"] for q in queries if sleep_call() in q["sql"]]
    assert len(delayed) == 1
    # The sleep asked of the database, exactly, instead of an upper limit on
    # the request's time, which a loaded machine missed (3.2 s for 0.05 s)
    # and which let an unscaled delay under 0.5 s pass.
    assert slept_s(delayed[0]) == pytest.approx(expected_s)
    assert elapsed_s >= expected_s * 0.9


# Products


def test_product_list_returns_products_with_stock(client, django_assert_num_queries):
    """GET /api/products/ lists 50 products with their stock in one query."""
    with django_assert_num_queries(1):
        response = client.get(reverse("shop:product-list"))

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 50
    first = data["results"][0]
    assert set(first) == {"id", "sku", "name", "category", "price", "stock"}
    assert first["stock"] == Inventory.objects.get(product_id=first["id"]).quantity


def test_product_list_filters_by_category(client):
    """?category= keeps only that category's products."""
    category = Product.objects.first().category
    expected = Product.objects.filter(category=category).count()

    response = client.get(
        reverse("shop:product-list"), {"category": category, "limit": 500}
    )

    results = response.json()["results"]
    assert len(results) == expected
    assert {product["category"] for product in results} == {category}


@pytest.mark.parametrize("limit", ["0", "-3", "many", "501"])
def test_product_list_rejects_a_bad_limit(client, limit):
    """An out-of-range or non-numeric ?limit= is a 400 naming the parameter."""
    response = client.get(reverse("shop:product-list"), {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["error"]


def test_product_list_refuses_post(client):
    """POST to the product list is 405."""
    assert client.post(reverse("shop:product-list")).status_code == 405


# Placing orders


def test_order_create_reserves_stock(client):
    """POST /api/orders/ creates the order and takes its units from stock."""
    customer = Customer.objects.first()
    product = _first_in_stock_product()
    stock_before = product.inventory.quantity
    body = {
        "customer_id": customer.pk,
        "items": [
            {"product_id": product.pk, "quantity": 2},
            {"product_id": product.pk, "quantity": 1},
        ],
    }

    response = _send(client, "post", reverse("shop:order-create"), body)

    assert response.status_code == 201
    data = response.json()
    order = Order.objects.get(pk=data["id"])
    assert order.customer == customer
    assert order.status == Order.Status.PENDING
    assert order.total == product.price * 3
    assert data["total"] == str(product.price * 3)
    assert [(i["product_id"], i["quantity"]) for i in data["items"]] == [
        (product.pk, 3)
    ]
    assert Inventory.objects.get(product=product).quantity == stock_before - 3


def test_order_create_query_count(client, django_assert_num_queries):
    """Placing a two-line order takes a fixed number of queries."""
    products = Product.objects.filter(inventory__quantity__gte=5)[:2]
    body = {
        "customer_id": Customer.objects.first().pk,
        "items": [{"product_id": p.pk, "quantity": 1} for p in products],
    }

    # Products, customer, savepoint, two stock updates, order, items, release.
    with django_assert_num_queries(8):
        response = _send(client, "post", reverse("shop:order-create"), body)

    assert response.status_code == 201


def test_order_create_without_stock_is_a_conflict_and_changes_nothing(client):
    """Ordering more than is in stock is a 409 that changes nothing."""
    product = _first_in_stock_product()
    other = (
        Product.objects.filter(inventory__quantity__gte=1)
        .exclude(pk=product.pk)
        .first()
    )
    Inventory.objects.filter(product=product).update(quantity=1)
    other_stock = other.inventory.quantity
    orders_before = Order.objects.count()
    body = {
        "customer_id": Customer.objects.first().pk,
        "items": [
            {"product_id": other.pk, "quantity": 1},
            {"product_id": product.pk, "quantity": 2},
        ],
    }

    response = _send(client, "post", reverse("shop:order-create"), body)

    assert response.status_code == 409
    assert str(product.pk) in response.json()["error"]
    assert Inventory.objects.get(product=other).quantity == other_stock
    assert Order.objects.count() == orders_before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"items": [{"product_id": 1, "quantity": 1}]}, "customer_id is required"),
        ({"customer_id": True, "items": []}, "customer_id must be an integer"),
        ({"customer_id": "1", "items": []}, "customer_id must be an integer"),
        ({"customer_id": 1}, "items must be a non-empty list"),
        ({"customer_id": 1, "items": []}, "items must be a non-empty list"),
        ({"customer_id": 1, "items": ["x"]}, "items[0] must be an object"),
        ({"customer_id": 1, "items": [{"quantity": 1}]}, "product_id is required"),
        ({"customer_id": 1, "items": [{"product_id": 1, "quantity": 0}]}, "quantity"),
        ({"customer_id": 1, "items": [{"product_id": 1, "quantity": 1.5}]}, "quantity"),
        (
            {"customer_id": 1, "items": [{"product_id": 10**9, "quantity": 1}]},
            "unknown product_id: 1000000000",
        ),
    ],
)
def test_order_create_rejects_bad_input(client, body, message):
    """A malformed order is a 400 whose message says what is wrong."""
    response = _send(client, "post", reverse("shop:order-create"), body)

    assert response.status_code == 400
    assert message in response.json()["error"]


def test_order_create_rejects_an_unknown_customer(client):
    """An order for a customer that does not exist is a 400."""
    body = {
        "customer_id": 10**9,
        "items": [{"product_id": Product.objects.first().pk, "quantity": 1}],
    }

    response = _send(client, "post", reverse("shop:order-create"), body)

    assert response.status_code == 400
    assert response.json() == {"error": "unknown customer_id: 1000000000"}


def test_order_create_refuses_get(client):
    """GET on the order collection is 405."""
    assert client.get(reverse("shop:order-create")).status_code == 405


# Reading orders


def test_order_detail_returns_the_lines(client, django_assert_num_queries):
    """GET /api/orders/<pk>/ returns the order and its lines in two queries."""
    order = Order.objects.first()

    with django_assert_num_queries(2):
        response = client.get(reverse("shop:order-detail", args=[order.pk]))

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == order.pk
    assert len(data["items"]) == order.items.count()


def test_order_detail_of_a_missing_order_is_404(client):
    """An unknown order id is a JSON 404."""
    response = client.get(reverse("shop:order-detail", args=[10**9]))

    assert response.status_code == 404
    assert response.json() == {"error": "order 1000000000 does not exist"}


def test_invoice_fails_with_a_genuine_server_error(lenient_client):
    """The invoice endpoint's tax bug makes Django answer a real JSON 500."""
    order = Order.objects.first()

    response = lenient_client.get(reverse("shop:order-invoice", args=[order.pk]))

    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}


def test_invoice_bug_is_a_key_error(client):
    """The invoice fails inside the view with KeyError on the country code."""
    order = Order.objects.select_related("customer__profile").first()

    with pytest.raises(KeyError, match=order.customer.profile.country):
        client.get(reverse("shop:order-invoice", args=[order.pk]))


# Profiles


def test_user_profile_returns_recent_orders(client, django_assert_num_queries):
    """GET /api/users/profile/ returns the profile and five newest orders."""
    customer = Customer.objects.filter(orders__isnull=False).first()
    url = reverse("shop:user-profile")

    with django_assert_num_queries(2):
        response = client.get(url, {"customer_id": customer.pk})

    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["country"] == customer.profile.country
    expected = list(
        customer.orders.order_by("-created_at", "-id").values_list("id", flat=True)[:5]
    )
    assert [order["id"] for order in data["recent_orders"]] == expected


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "customer_id is required"),
        ({"customer_id": "abc"}, 400, "customer_id must be an integer"),
        ({"customer_id": "0"}, 400, "customer_id must be >= 1"),
        ({"customer_id": str(10**9)}, 404, "customer 1000000000 does not exist"),
    ],
)
def test_user_profile_rejects_a_bad_customer_id(client, params, status, message):
    """A missing, malformed or unknown ?customer_id= is refused."""
    response = client.get(reverse("shop:user-profile"), params)

    assert response.status_code == status
    assert message in response.json()["error"]


# Inventory


def test_inventory_update_sets_the_quantity(client, django_assert_num_queries):
    """PUT /api/inventory/update/ sets the stock, reporting the old level."""
    stock = Inventory.objects.select_related("product").first()
    body = {"product_id": stock.product_id, "quantity": 3}

    with django_assert_num_queries(2):
        response = _send(client, "put", reverse("shop:inventory-update"), body)

    assert response.status_code == 200
    data = response.json()
    assert data["previous_quantity"] == stock.quantity
    assert data["quantity"] == 3
    assert data["sku"] == stock.product.sku
    stock.refresh_from_db()
    assert stock.quantity == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"quantity": 3}, 400, "product_id is required"),
        ({"product_id": 1}, 400, "quantity is required"),
        ({"product_id": 1, "quantity": -1}, 400, "quantity must be >= 0"),
        ({"product_id": 10**9, "quantity": 1}, 404, "has no inventory record"),
        ("[]", 400, "JSON object"),
    ],
)
def test_inventory_update_rejects_bad_input(client, body, status, message):
    """A malformed stock update, or one for an unknown product, is refused."""
    response = _send(client, "put", reverse("shop:inventory-update"), body)

    assert response.status_code == status
    assert message in response.json()["error"]


def test_inventory_update_refuses_post(client):
    """POST to the inventory update is 405."""
    response = _send(client, "post", reverse("shop:inventory-update"), {})

    assert response.status_code == 405


# Analytics


def test_dashboard_aggregates_match_the_orders(client, django_assert_num_queries):
    """The dashboard's revenue equals the total of orders not cancelled."""
    with django_assert_num_queries(3):
        response = client.get(reverse("shop:analytics-dashboard"))

    assert response.status_code == 200
    data = response.json()
    kept = Order.objects.exclude(status=Order.Status.CANCELLED)
    revenue = sum(Decimal(row["revenue"]) for row in data["revenue_by_category"])
    assert revenue == kept.aggregate(total=Sum("total"))["total"]
    assert sum(data["orders_by_status"].values()) == 500
    spent = [Decimal(customer["spent"]) for customer in data["top_customers"]]
    assert len(spent) == 5
    assert spent == sorted(spent, reverse=True)


# Errors


def test_unknown_url_is_a_json_404(client):
    """A path outside the API gets a JSON 404 rather than an HTML page."""
    response = client.get("/api/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json() == {"error": "no such endpoint: /api/no-such-endpoint/"}
