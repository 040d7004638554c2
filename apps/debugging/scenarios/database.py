"""Scenario: a fast indexed query, a slow query and an N+1 loop."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum

from apps.shop.latency import delayed, inject_query_latency
from apps.shop.models import Order, Product

from .base import Scenario, register_scenario

N_PLUS_ONE_ORDERS = 10


@register_scenario
class DatabaseOperationsScenario(Scenario):
    """Run exactly 12 queries: 1 fast, 1 slow, and an N+1 of 10 lazy loads."""

    name = "database_operations"
    order = 10
    description = (
        "A fast indexed query, a slow aggregate, and an N+1 loop that loads "
        "each order's customer lazily from one line of code."
    )
    nominal_latencies_s = {
        "fast_indexed_query": 0.1,
        "slow_query": 1.5,
        "n_plus_one_query": 0.05,
    }

    def run(self) -> dict[str, Any]:
        """Run the three steps and return what each one found."""
        ctx, latency = self.context, self.nominal_latencies_s

        # Step 1: an index on created_at serves this ordering and limit.
        with self.monitor.measure_execution_time(
            "db.fast_indexed_query", tags={"scenario": self.name}
        ):
            recent = delayed(
                Order.objects.order_by("-created_at"), latency["fast_indexed_query"]
            )
            orders = list(recent[:N_PLUS_ONE_ORDERS])
        ctx.say(f"fast indexed query returned {len(orders)} recent orders")

        # Step 2: revenue per category scans every order item.
        with self.monitor.measure_execution_time(
            "db.slow_query", tags={"scenario": self.name}
        ):
            categories = list(
                delayed(Product.objects.all(), latency["slow_query"])
                .values("category")
                .annotate(
                    revenue=Sum("orderitem__unit_price"), lines=Count("orderitem")
                )
                .order_by("-revenue")
            )
        ctx.say(f"slow query aggregated {len(categories)} categories")

        # Step 3: the N+1 itself. Each `order.customer` is a lazy load.
        with (
            self.monitor.measure_execution_time(
                "db.n_plus_one_loop", tags={"scenario": self.name}
            ),
            inject_query_latency(ctx.scaled(latency["n_plus_one_query"])),
        ):
            customer_names = [order.customer.name for order in orders]
        ctx.say(f"N+1 loop loaded {len(customer_names)} customers one by one")

        # First: the terminal cuts Details short, and this is the figure to
        # check against the Queries column.
        return {
            "expected_queries": 2 + len(orders),
            "orders_loaded": len(orders),
            "categories": len(categories),
            "customers_loaded_lazily": len(customer_names),
            "distinct_customers": len(set(customer_names)),
        }
