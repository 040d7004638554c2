"""Turn shop models into the plain dicts the JSON API returns."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from apps.shop.models import Customer, Inventory, Order, OrderItem, Product, Profile

_CENT = Decimal("0.01")


def money(amount: Decimal | None) -> str:
    """Return an amount as a two-decimal string; JSON has no Decimal type."""
    return str((amount or Decimal()).quantize(_CENT))


def product_to_dict(product: Product) -> dict[str, Any]:
    """Return a product with its stock (None when it has no inventory)."""
    try:
        stock: int | None = product.inventory.quantity
    except Inventory.DoesNotExist:
        stock = None
    return {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "price": money(product.price),
        "stock": stock,
    }


def order_item_to_dict(item: OrderItem) -> dict[str, Any]:
    """Return one order line with its product's sku and name."""
    return {
        "product_id": item.product_id,
        "sku": item.product.sku,
        "name": item.product.name,
        "quantity": item.quantity,
        "unit_price": money(item.unit_price),
    }


def order_to_dict(
    order: Order, items: Iterable[OrderItem] | None = None
) -> dict[str, Any]:
    """Return an order, with its lines when ``items`` is given."""
    data: dict[str, Any] = {
        "id": order.pk,
        "customer_id": order.customer_id,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "total": money(order.total),
    }
    if items is not None:
        data["items"] = [order_item_to_dict(item) for item in items]
    return data


def customer_to_dict(customer: Customer) -> dict[str, Any]:
    """Return a customer with the profile, when there is one."""
    try:
        profile: Profile | None = customer.profile
    except Profile.DoesNotExist:
        profile = None
    return {
        "id": customer.pk,
        "name": customer.name,
        "email": customer.email,
        "created_at": customer.created_at.isoformat(),
        "profile": None
        if profile is None
        else {
            "bio": profile.bio,
            "loyalty_points": profile.loyalty_points,
            "country": profile.country,
        },
    }
