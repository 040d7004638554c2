"""Scenario: concurrent clients load five shop endpoints over a loopback server."""

from __future__ import annotations

from typing import Any

from apps.shop.latency import NOMINAL_LATENCY_S
from apps.shop.models import Product
from perfprobe import monitor as default_monitor
from perfprobe.scope import get_current_scope

from ..load.config import LoadConfig
from ..load.runner import LoadEndpoint, LoadOutcome, run_load
from ..load.server_side import ServerSideRecorder
from ..load.stats import ALL_ENDPOINTS, RequestSample, summarize_by_endpoint
from ..server import LoopbackServer
from .base import Scenario, register_scenario
from .customers import next_customer_ids
from .database import N_PLUS_ONE_ORDERS

#: Each order takes one unit of this much stock, and each inventory update
#: puts it back, so a long run does not sell the product out.
RESTOCK_QUANTITY = 500

#: Orders rotate over this many customers: at least as many as the orders the
#: N+1 loop of ``database_operations`` reads, so those stay varied.
ORDERING_CUSTOMERS = N_PLUS_ONE_ORDERS

ERROR_DEFINITION = (
    "An error is a request without a response or with a status of 400 or "
    "more, counted the same way on both sides"
)


def load_endpoints(customer_ids: list[int], product_id: int) -> list[LoadEndpoint]:
    """Return the five requests of the mix once per customer, in cycle order.

    Request ``i`` still goes to endpoint ``i mod 5``; the orders and profile
    reads rotate over ``customer_ids``, so a long run leaves recent orders
    with varied customers (see ``next_customer_ids``).
    """
    endpoints: list[LoadEndpoint] = []
    for customer_id in customer_ids:
        endpoints += [
            LoadEndpoint("GET", "/api/products/?category=kitchen", "/api/products/"),
            LoadEndpoint(
                "POST",
                "/api/orders/",
                "/api/orders/",
                {
                    "customer_id": customer_id,
                    "items": [{"product_id": product_id, "quantity": 1}],
                },
            ),
            LoadEndpoint(
                "GET",
                f"/api/users/profile/?customer_id={customer_id}",
                "/api/users/profile/",
            ),
            LoadEndpoint(
                "PUT",
                "/api/inventory/update/",
                "/api/inventory/update/",
                {"product_id": product_id, "quantity": RESTOCK_QUANTITY},
            ),
            LoadEndpoint(
                "GET", "/api/analytics/dashboard/", "/api/analytics/dashboard/"
            ),
        ]
    return endpoints


def load_details(
    config: LoadConfig,
    endpoints: list[LoadEndpoint],
    outcome: LoadOutcome,
    server_samples: list[RequestSample],
) -> dict[str, Any]:
    """Return the report details of a load run: both sides, per endpoint."""
    keys = list(dict.fromkeys(endpoint.key for endpoint in endpoints))
    client = summarize_by_endpoint(outcome.samples, outcome.elapsed_s, keys)
    server = summarize_by_endpoint(server_samples, outcome.elapsed_s, keys)
    return {
        "clients": config.clients,
        "requests_planned": config.requests,
        "requests_sent": len(outcome.samples),
        "server_recorded": len(server_samples),
        "time_limit_s": config.time_limit_s,
        "stopped_early": outcome.stopped_early,
        "elapsed_s": outcome.elapsed_s,
        "throughput_rps": client[ALL_ENDPOINTS]["throughput_rps"],
        "error_rate": client[ALL_ENDPOINTS]["error_rate"],
        "error_definition": ERROR_DEFINITION,
        "throughput_window": "both sides' requests per second of the clients' run",
        "client_side": client,
        "server_side": server,
    }


@register_scenario
class LoadScenario(Scenario):
    """Send a fixed number of requests from concurrent clients; opt-in."""

    name = "load"
    order = 60
    run_by_default = False
    description = (
        "Concurrent clients send a fixed number of HTTP requests to five shop "
        "endpoints on a loopback server; throughput, percentiles and errors as "
        "the clients measured them and as perfprobe's middleware recorded them."
    )
    nominal_latencies_s = {
        "GET /api/products/": NOMINAL_LATENCY_S["product-list"],
        "POST /api/orders/": NOMINAL_LATENCY_S["order-create"],
        "GET /api/users/profile/": NOMINAL_LATENCY_S["user-profile"],
        "PUT /api/inventory/update/": NOMINAL_LATENCY_S["inventory-update"],
        "GET /api/analytics/dashboard/": NOMINAL_LATENCY_S["analytics-dashboard"],
    }

    def run(self) -> dict[str, Any]:
        """Start the server, run the load, stop the server, compare both sides."""
        config = LoadConfig.from_options(self.context.options)
        customers = next_customer_ids(ORDERING_CUSTOMERS)
        product = Product.objects.order_by("id").first()
        if not customers or product is None:
            raise RuntimeError("the shop has no sample data to request")
        endpoints = load_endpoints(customers, product.pk)
        # Generous against the slowest endpoint, so that only a hung server
        # (not a large --time-scale) hits it.
        timeout_s = 30.0 + 3 * self.context.scaled(
            max(self.nominal_latencies_s.values())
        )
        scope = get_current_scope()
        self.context.say(
            f"{config.requests} requests from {config.clients} clients, "
            f"at most {config.time_limit_s:g} s"
        )

        # The middleware records into the process-wide monitor, whichever
        # monitor the demo itself reports with.
        recorder = ServerSideRecorder(
            default_monitor.collector, scope.path if scope else None
        )
        with recorder, LoopbackServer() as server:
            outcome = run_load(
                server.base_url,
                endpoints,
                clients=config.clients,
                requests=config.requests,
                time_limit_s=config.time_limit_s,
                request_timeout_s=timeout_s,
            )
        details = load_details(config, endpoints, outcome, recorder.samples())
        self.context.say(
            f"{details['requests_sent']} sent, {details['server_recorded']} recorded "
            f"by the middleware, {details['throughput_rps']:.1f} requests/s"
        )
        return details
