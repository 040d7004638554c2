"""Serve the shop's JSON API; every endpoint does real ORM work."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, DecimalField, F, Prefetch, Q, Sum
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from apps.shop.api import (
    Conflict,
    InvalidInput,
    NotFound,
    api_view,
    query_int,
    read_json_object,
    require_int,
)
from apps.shop.latency import NOMINAL_LATENCY_S, delayed
from apps.shop.models import Customer, Inventory, Order, OrderItem, Product
from apps.shop.serializers import (
    customer_to_dict,
    money,
    order_to_dict,
    product_to_dict,
)

# Each endpoint injects its nominal latency (times the scale) into one of its
# own queries through delayed(), so the time is spent inside the database,
# where a genuinely slow query would spend it.

MAX_ORDER_LINES = 50
MAX_LINE_QUANTITY = 1000
RECENT_ORDER_COUNT = 5
TOP_CUSTOMER_COUNT = 5

# Sales tax by region, for invoices.
_TAX_RATES = {"EU": Decimal("0.20"), "UK": Decimal("0.20"), "NA": Decimal("0.08")}


@api_view("GET")
def product_list(request: HttpRequest) -> JsonResponse:
    """List products with their stock, optionally of one ?category=."""
    limit = query_int(request.GET, "limit", default=50, maximum=500)
    products = Product.objects.select_related("inventory").order_by("id")
    if category := request.GET.get("category"):
        products = products.filter(category=category)
    products = delayed(products, NOMINAL_LATENCY_S["product-list"])

    results = [product_to_dict(product) for product in products[:limit]]
    return JsonResponse({"count": len(results), "results": results})


def _parse_order_lines(value: Any) -> dict[int, int]:
    """Return {product_id: quantity} from the "items" list, summing repeats."""
    if not isinstance(value, list) or not value:
        raise InvalidInput("items must be a non-empty list")
    if len(value) > MAX_ORDER_LINES:
        raise InvalidInput(f"items may hold at most {MAX_ORDER_LINES} lines")
    quantities: dict[int, int] = {}
    for index, line in enumerate(value):
        if not isinstance(line, dict):
            raise InvalidInput(f"items[{index}] must be an object")
        product_id = require_int(line, "product_id")
        quantity = require_int(line, "quantity", maximum=MAX_LINE_QUANTITY)
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    return quantities


@api_view("POST")
def order_create(request: HttpRequest) -> JsonResponse:
    """Place an order from {"customer_id", "items"} and reserve its stock."""
    data = read_json_object(request)
    customer_id = require_int(data, "customer_id")
    quantities = _parse_order_lines(data.get("items"))

    # The slow read happens before the transaction: on SQLite a transaction
    # holds the database's single write lock, and concurrent orders would
    # queue behind the injected delay.
    products = delayed(
        Product.objects.filter(pk__in=quantities), NOMINAL_LATENCY_S["order-create"]
    ).in_bulk()
    if missing := sorted(set(quantities) - set(products)):
        raise InvalidInput(f"unknown product_id: {', '.join(map(str, missing))}")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise InvalidInput(f"unknown customer_id: {customer_id}")

    items = [
        OrderItem(product=products[pid], quantity=qty, unit_price=products[pid].price)
        for pid, qty in quantities.items()
    ]
    total = sum((item.quantity * item.unit_price for item in items), Decimal())
    now = timezone.now()
    with transaction.atomic():
        for item in items:
            # The conditional UPDATE checks and takes stock in one statement,
            # so two orders cannot both take the last unit.
            reserved = Inventory.objects.filter(
                product_id=item.product_id, quantity__gte=item.quantity
            ).update(quantity=F("quantity") - item.quantity, updated_at=now)
            if not reserved:
                raise Conflict(f"not enough stock for product_id {item.product_id}")
        order = Order.objects.create(customer_id=customer_id, total=total)
        for item in items:
            item.order = order
        OrderItem.objects.bulk_create(items)
    return JsonResponse(order_to_dict(order, items), status=201)


def _order_with_items(pk: int, nominal_s: float) -> Order:
    """Return the order with lines and products; raise NotFound if missing."""
    lines = Prefetch("items", queryset=OrderItem.objects.select_related("product"))
    orders = Order.objects.select_related("customer").prefetch_related(lines)
    order = delayed(orders, nominal_s).filter(pk=pk).first()
    if order is None:
        raise NotFound(f"order {pk} does not exist")
    return order


@api_view("GET")
def order_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """Return one order with its lines."""
    order = _order_with_items(pk, NOMINAL_LATENCY_S["order-detail"])
    return JsonResponse(order_to_dict(order, order.items.all()))


@api_view("GET")
def order_invoice(request: HttpRequest, pk: int) -> JsonResponse:
    """Return an invoice for one order, with sales tax."""
    order = _order_with_items(pk, NOMINAL_LATENCY_S["order-invoice"])
    items = list(order.items.all())
    subtotal = sum((item.quantity * item.unit_price for item in items), Decimal())

    # Deliberate bug for the demo's failing endpoint, to be left in place: the
    # rates are keyed by region but looked up by country code, so every
    # invoice raises KeyError and Django answers with a genuine HTTP 500.
    country = order.customer.profile.country
    tax = subtotal * _TAX_RATES[country]

    return JsonResponse(
        {
            "order": order_to_dict(order, items),
            "subtotal": money(subtotal),
            "tax": money(tax),
            "total": money(subtotal + tax),
        }
    )


@api_view("GET")
def user_profile(request: HttpRequest) -> JsonResponse:
    """Return a ?customer_id='s profile and most recent orders."""
    customer_id = query_int(request.GET, "customer_id")
    recent = Prefetch(
        "orders",
        queryset=Order.objects.order_by("-created_at", "-id")[:RECENT_ORDER_COUNT],
        to_attr="recent_orders",
    )
    customers = Customer.objects.select_related("profile").prefetch_related(recent)
    customer = (
        delayed(customers, NOMINAL_LATENCY_S["user-profile"])
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")

    data = customer_to_dict(customer)
    # Prefetch(to_attr=...) sets an attribute the type stubs cannot see.
    recent_orders: list[Order] = customer.recent_orders  # type: ignore[attr-defined]
    data["recent_orders"] = [order_to_dict(order) for order in recent_orders]
    return JsonResponse(data)


@api_view("PUT")
def inventory_update(request: HttpRequest) -> JsonResponse:
    """Set a product's stock from {"product_id": .., "quantity": ..}."""
    data = read_json_object(request)
    product_id = require_int(data, "product_id")
    quantity = require_int(data, "quantity", minimum=0, maximum=1_000_000)

    stock = (
        delayed(
            Inventory.objects.select_related("product"),
            NOMINAL_LATENCY_S["inventory-update"],
        )
        .filter(product_id=product_id)
        .first()
    )
    if stock is None:
        raise NotFound(f"product {product_id} has no inventory record")
    now = timezone.now()
    Inventory.objects.filter(pk=stock.pk).update(quantity=quantity, updated_at=now)

    return JsonResponse(
        {
            "product_id": product_id,
            "sku": stock.product.sku,
            "previous_quantity": stock.quantity,
            "quantity": quantity,
            "updated_at": now.isoformat(),
        }
    )


@api_view("GET")
def analytics_dashboard(request: HttpRequest) -> JsonResponse:
    """Return revenue per category, top customers, order counts by status."""
    not_cancelled = ~Q(order__status=Order.Status.CANCELLED)
    line_total = Sum(
        F("quantity") * F("unit_price"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    by_category = (
        delayed(
            OrderItem.objects.filter(not_cancelled),
            NOMINAL_LATENCY_S["analytics-dashboard"],
        )
        .values("product__category")
        .annotate(revenue=line_total, units=Sum("quantity"))
        .order_by("-revenue", "product__category")
    )

    kept_orders = ~Q(orders__status=Order.Status.CANCELLED)
    top_customers = (
        Customer.objects.annotate(
            order_count=Count("orders", filter=kept_orders),
            spent=Sum("orders__total", filter=kept_orders),
        )
        .filter(order_count__gt=0)
        .order_by("-spent", "id")[:TOP_CUSTOMER_COUNT]
    )
    by_status = (
        Order.objects.values("status").annotate(count=Count("id")).order_by("status")
    )

    return JsonResponse(
        {
            "revenue_by_category": [
                {
                    "category": row["product__category"],
                    "revenue": money(row["revenue"]),
                    "units": row["units"],
                }
                for row in by_category
            ],
            "top_customers": [
                {
                    "id": customer.pk,
                    "name": customer.name,
                    "orders": customer.order_count,
                    "spent": money(customer.spent),
                }
                for customer in top_customers
            ],
            "orders_by_status": {row["status"]: row["count"] for row in by_status},
        }
    )
