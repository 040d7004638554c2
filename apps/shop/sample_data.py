"""Fill an empty shop with deterministic customers, products and orders."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from apps.shop.models import Customer, Inventory, Order, OrderItem, Product, Profile

CUSTOMER_COUNT = 50
PRODUCT_COUNT = 200
ORDER_COUNT = 500
MAX_ITEMS_PER_ORDER = 4

# Fixed, so the same seed gives the same rows on any day.
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")

_FIRST_NAMES = ["Ada", "Bo", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana"]
_LAST_NAMES = ["Ito", "Jensen", "Kowalski", "Lopez", "Mensah", "Novak", "Okafor"]
_COUNTRIES = ["DE", "FR", "NL", "ES", "SE", "GB", "US", "CA"]
_CATEGORIES = ["books", "garden", "kitchen", "music", "outdoor", "office", "toys"]
_ADJECTIVES = ["Compact", "Deluxe", "Eco", "Classic", "Rugged", "Smart", "Tiny"]
_NOUNS = ["Kettle", "Lamp", "Notebook", "Backpack", "Speaker", "Planter", "Puzzle"]
_STATUS_WEIGHTS = {
    Order.Status.PENDING: 1,
    Order.Status.PAID: 3,
    Order.Status.SHIPPED: 5,
    Order.Status.CANCELLED: 1,
}


def ensure_sample_data(seed: int = 42) -> bool:
    """Create the sample shop if it is empty; return True if rows were created.

    The same seed always produces the same rows. Primary keys follow the
    database's sequences, so they differ after earlier rows were deleted.
    """
    # Checking inside the transaction makes two concurrent callers create the
    # data once: the demo database takes its write lock at BEGIN.
    with transaction.atomic():
        if Customer.objects.exists() or Product.objects.exists():
            return False
        rng = random.Random(seed)
        customers = _create_customers(rng)
        products = _create_products(rng)
        _create_orders(rng, customers, products)
    return True


def _create_customers(rng: random.Random) -> list[Customer]:
    """Create the customers, each with a profile."""
    customers = Customer.objects.bulk_create(
        Customer(
            name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            email=f"customer{index:03d}@example.com",
            created_at=_EPOCH - timedelta(days=rng.randint(1, 730)),
        )
        for index in range(1, CUSTOMER_COUNT + 1)
    )
    Profile.objects.bulk_create(
        Profile(
            customer=customer,
            bio=f"Sample customer number {index}.",
            loyalty_points=rng.randint(0, 5000),
            country=rng.choice(_COUNTRIES),
        )
        for index, customer in enumerate(customers, start=1)
    )
    return customers


def _create_products(rng: random.Random) -> list[Product]:
    """Create the products, each with its stock level."""
    products = Product.objects.bulk_create(
        Product(
            sku=f"SKU-{index:05d}",
            name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
            category=rng.choice(_CATEGORIES),
            price=Decimal(rng.randint(199, 19999)) * _CENT,
        )
        for index in range(1, PRODUCT_COUNT + 1)
    )
    Inventory.objects.bulk_create(
        Inventory(product=product, quantity=rng.randint(20, 500), updated_at=_EPOCH)
        for product in products
    )
    return products


def _create_orders(
    rng: random.Random, customers: list[Customer], products: list[Product]
) -> None:
    """Create the orders with one to four distinct products each."""
    statuses = list(_STATUS_WEIGHTS)
    weights = list(_STATUS_WEIGHTS.values())
    orders: list[Order] = []
    lines: list[list[OrderItem]] = []
    for _ in range(ORDER_COUNT):
        chosen = rng.sample(products, rng.randint(1, MAX_ITEMS_PER_ORDER))
        items = [
            OrderItem(
                product=product, quantity=rng.randint(1, 5), unit_price=product.price
            )
            for product in chosen
        ]
        orders.append(
            Order(
                customer=rng.choice(customers),
                status=rng.choices(statuses, weights)[0],
                created_at=_EPOCH + timedelta(minutes=rng.randint(0, 365 * 24 * 60)),
                total=sum(
                    (item.quantity * item.unit_price for item in items), Decimal()
                ),
            )
        )
        lines.append(items)

    # bulk_create sets primary keys on SQLite and PostgreSQL, so the items can
    # point at their orders afterwards.
    Order.objects.bulk_create(orders)
    for order, items in zip(orders, lines, strict=True):
        for item in items:
            item.order = order
    OrderItem.objects.bulk_create(item for items in lines for item in items)
