"""Serve the shop's async endpoints and one that loads products in threads.

Each view makes a fixed, documented number of queries, so that a test
served over ASGI can compare what perfprobe recorded per request with it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, JsonResponse

from apps.shop.api import InvalidInput, NotFound, api_view, query_int
from apps.shop.models import Customer, Order, OrderItem, Product
from apps.shop.serializers import (
    customer_to_dict,
    order_item_to_dict,
    order_to_dict,
    product_to_dict,
)
from perfprobe import monitor

MAX_SLEEP_MS = 5000
RECENT_ORDER_COUNT = 5
MAX_PARALLEL_PRODUCTS = 20
PARALLEL_WORKERS = 4

#: Queries each view makes: known numbers, not measured ones.
ORDER_ASYNC_QUERIES = 3
CUSTOMER_SYNC_TO_ASYNC_QUERIES = 2
QUERIES_PER_PARALLEL_PRODUCT = 1


@api_view("GET")
async def async_sleep(request: HttpRequest) -> JsonResponse:
    """Await ``asyncio.sleep`` for ``?ms=`` milliseconds (0 to 5000); no query."""
    ms = query_int(request.GET, "ms", minimum=0, maximum=MAX_SLEEP_MS)
    await asyncio.sleep(ms / 1000)
    return JsonResponse({"slept_ms": ms})


@api_view("GET")
async def async_order_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """Return an order, its lines and its customer's order count: three queries.

    Everything goes through the async ORM: ``aget()``, ``async for`` and
    ``acount()``.
    """
    try:
        order = await Order.objects.select_related("customer").aget(pk=pk)
    except Order.DoesNotExist:
        raise NotFound(f"order {pk} does not exist") from None
    lines = OrderItem.objects.filter(order_id=order.pk).select_related("product")
    items = [item async for item in lines.order_by("id")]
    customer_orders = await Order.objects.filter(customer_id=order.customer_id).acount()

    data = order_to_dict(order)
    data["items"] = [order_item_to_dict(item) for item in items]
    data["customer_order_count"] = customer_orders
    return JsonResponse(data)


def _customer_with_recent_orders(pk: int) -> dict[str, Any]:
    """Return a customer with profile and latest orders: two sync ORM queries."""
    customer = Customer.objects.select_related("profile").filter(pk=pk).first()
    if customer is None:
        raise NotFound(f"customer {pk} does not exist")
    recent = customer.orders.order_by("-created_at", "-id")[:RECENT_ORDER_COUNT]

    data = customer_to_dict(customer)
    data["recent_orders"] = [order_to_dict(order) for order in recent]
    return data


@api_view("GET")
async def async_customer(request: HttpRequest, pk: int) -> JsonResponse:
    """Return a customer through sync ORM code run by ``sync_to_async``."""
    data = await sync_to_async(_customer_with_recent_orders)(pk)
    return JsonResponse(data)


def _parse_ids(raw: str | None) -> list[int]:
    """Return the ``?ids=1,2,3`` list; raise InvalidInput if malformed."""
    if not raw:
        raise InvalidInput("query parameter ids is required")
    parts = raw.split(",")
    if len(parts) > MAX_PARALLEL_PRODUCTS:
        raise InvalidInput(f"ids may name at most {MAX_PARALLEL_PRODUCTS} products")
    return [query_int({"ids": part}, "ids") for part in parts]


def _load_product(pk: int) -> Product | None:
    """Return one product with its stock, in one query, from a worker thread."""
    try:
        return Product.objects.select_related("inventory").filter(pk=pk).first()
    finally:
        # Django closes only the connections of threads it runs requests in;
        # a pool thread's connection would otherwise stay open until the
        # thread is collected.
        connections.close_all()


@api_view("GET")
def parallel_products(request: HttpRequest) -> JsonResponse:
    """Load the ``?ids=`` products in a thread pool: one query per product.

    The workers run in the request's perfprobe scope through
    ``monitor.propagate``; ``?propagate=0`` hands them nothing, so their
    queries count only in the process totals.
    """
    ids = _parse_ids(request.GET.get("ids"))
    handover = request.GET.get("propagate", "1")
    if handover not in ("0", "1"):
        raise InvalidInput(f"propagate must be 0 or 1, got {handover!r}")
    load = monitor.propagate(_load_product) if handover == "1" else _load_product

    with ThreadPoolExecutor(
        max_workers=min(PARALLEL_WORKERS, len(ids)), thread_name_prefix="shop-load"
    ) as pool:
        products = list(pool.map(load, ids))

    missing = [pk for pk, product in zip(ids, products, strict=True) if not product]
    if missing:
        raise NotFound(f"unknown product id: {', '.join(map(str, missing))}")
    results = [product_to_dict(p) for p in products if p is not None]
    return JsonResponse({"count": len(results), "results": results})
