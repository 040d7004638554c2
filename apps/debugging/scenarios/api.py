"""Scenario: real HTTP requests to five shop endpoints over a loopback server."""

from __future__ import annotations

from typing import Any

from apps.shop.latency import NOMINAL_LATENCY_S
from apps.shop.models import Product

from ..client import request_json
from ..server import LoopbackServer
from .base import Scenario, register_scenario
from .customers import next_customer_ids


@register_scenario
class ApiRequestsScenario(Scenario):
    """Call each endpoint once through the full middleware stack."""

    name = "api_requests"
    order = 20
    description = (
        "Five JSON endpoints called over HTTP on a loopback server, each through "
        "perfprobe's middleware, with the shop's nominal server times."
    )
    nominal_latencies_s = {
        "GET /api/products/": NOMINAL_LATENCY_S["product-list"],
        "POST /api/orders/": NOMINAL_LATENCY_S["order-create"],
        "GET /api/users/profile/": NOMINAL_LATENCY_S["user-profile"],
        "PUT /api/inventory/update/": NOMINAL_LATENCY_S["inventory-update"],
        "GET /api/analytics/dashboard/": NOMINAL_LATENCY_S["analytics-dashboard"],
    }

    def _timeout_s(self) -> float:
        # Generous against the slowest endpoint, so that only a hung server
        # (not a large --time-scale) hits it.
        return 30.0 + 3 * self.context.scaled(max(self.nominal_latencies_s.values()))

    def run(self) -> dict[str, Any]:
        """Start the server, send the five requests, and return their results."""
        customers = next_customer_ids(1)
        products = list(Product.objects.order_by("id").values_list("id", flat=True)[:2])
        if not customers or len(products) < 2:
            raise RuntimeError("the shop has no sample data to request")
        customer_id = customers[0]

        calls: list[tuple[str, str, Any]] = [
            ("GET", "/api/products/?category=kitchen", None),
            (
                "POST",
                "/api/orders/",
                {
                    "customer_id": customer_id,
                    "items": [{"product_id": pk, "quantity": 1} for pk in products],
                },
            ),
            ("GET", f"/api/users/profile/?customer_id={customer_id}", None),
            (
                "PUT",
                "/api/inventory/update/",
                {"product_id": products[0], "quantity": 40},
            ),
            ("GET", "/api/analytics/dashboard/", None),
        ]
        results: list[dict[str, Any]] = []
        with LoopbackServer() as server:
            for method, path, payload in calls:
                result = request_json(
                    server.base_url, method, path, payload, timeout_s=self._timeout_s()
                )
                self.context.say(
                    f"{method} {path} -> {result.status} "
                    f"in {result.duration_s * 1000:.0f} ms (client side)"
                )
                results.append(
                    {
                        "method": method,
                        "path": path.split("?")[0],
                        "status": result.status,
                        "client_duration_s": result.duration_s,
                    }
                )
        failed = [r for r in results if r["status"] >= 400]
        if failed:
            raise RuntimeError(f"{len(failed)} request(s) failed: {failed}")
        return {
            "requests": results,
            "server": "loopback, free port, stopped after the requests",
        }
