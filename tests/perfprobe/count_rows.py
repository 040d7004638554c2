"""Loops that count or test related rows per row, and rows built elsewhere.

Used by ``test_rules_counts``; lines are found by the markers beside them.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.template import Context, Engine

from apps.shop.latency import inject_query_latency
from apps.shop.models import Customer, Order


def count_orders_per_customer() -> list[int]:
    """Count each customer's orders with one query per customer."""
    return [c.orders.count() for c in Customer.objects.all()]  # COUNT_LINE


def customers_with_orders() -> list[bool]:
    """Ask for each customer whether it has orders, one query per customer."""
    return [c.orders.exists() for c in Customer.objects.all()]  # EXISTS_LINE


def count_orders_by_filter() -> list[int]:
    """Count each customer's orders through Order's manager, not a relation."""
    return [
        Order.objects.filter(customer=c).count()  # FILTER_COUNT_LINE
        for c in Customer.objects.all()
    ]


_TEMPLATE = "{% for c in customers %}{{ c.name }}: {{ c.orders.count }}\n{% endfor %}"


def count_in_template() -> str:
    """Render a template that counts each customer's orders in its loop."""
    template = Engine().from_string(_TEMPLATE)
    customers = Customer.objects.all()
    return template.render(Context({"customers": customers}))  # TEMPLATE_LINE


def recent_orders(limit: int) -> QuerySet[Order]:
    """Return the newest orders, as a command's helper builds them."""
    return Order.objects.order_by("-id")[:limit]  # BUILT_LINE


def customer_names(limit: int) -> list[str]:
    """Read each order's customer: the rows are built by ``recent_orders``."""
    names = []
    first = Order.objects.order_by("id").first()  # OTHER_ORDER_LINE
    orders = recent_orders(limit)
    for order in orders:  # LOOP_LINE
        names.append(order.customer.name)  # USE_LINE
    last = Order.objects.order_by("id").last()  # LAST_ORDER_LINE
    assert first is not None and last is not None
    return names


def count_orders_of_assigned_customers() -> list[int]:
    """Count each customer's orders, the customers assigned to a name first."""
    customers = Customer.objects.all()  # ASSIGNED_LINE
    counts = []
    for customer in customers:  # ASSIGNED_LOOP_LINE
        counts.append(customer.orders.count())  # ASSIGNED_COUNT_LINE
    return counts


def slow_customer_emails(limit: int, delay_s: float) -> list[str]:
    """Read each recent order's customer, each lazy load delayed by ``delay_s``.

    Another Order query runs first, at another line of the function.
    """
    first = Order.objects.order_by("id").first()  # EARLIER_ORDER_LINE
    recent = list(Order.objects.order_by("-id")[:limit])  # RECENT_LINE
    with inject_query_latency(delay_s):
        emails = [order.customer.email for order in recent]  # EMAIL_LINE
    assert first is not None
    return emails
