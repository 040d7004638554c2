"""Pick the demo's ordering customers so that recent orders keep varied owners."""

from __future__ import annotations

from django.db.models import F, Max

from apps.shop.models import Customer


def next_customer_ids(count: int) -> list[int]:
    """Return up to ``count`` customer ids, those who ordered least recently first.

    Scenarios that place orders take their customers from here, so the
    newest orders always belong to different customers. Always ordering for
    the first customer would, after a few runs on one database, make every
    order the N+1 loop of ``database_operations`` reads share one customer:
    its ten lazy loads would then be one repeated query, a duplicate, and
    the demo's N+1 finding would vanish.
    """
    customers = Customer.objects.annotate(last_order=Max("orders__created_at"))
    ordered = customers.order_by(F("last_order").asc(nulls_first=True), "id")
    return list(ordered.values_list("id", flat=True)[:count])
