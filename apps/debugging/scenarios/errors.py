"""Scenario: a query timeout, a MemoryError and an HTTP 500, each recorded."""

from __future__ import annotations

from typing import Any

import psutil
from django.db import OperationalError

from apps.shop.latency import NOMINAL_LATENCY_S, run_runaway_query
from apps.shop.models import Order

from ..client import request_json
from ..server import LoopbackServer
from .base import Scenario, register_scenario

QUERY_TIMEOUT_S = 3.0


def impossible_allocation_bytes() -> int:
    """Return a size no allocation can satisfy here.

    A million times the machine's memory is past the 48-bit virtual address
    space of current 64-bit processors, so the allocator refuses at once
    instead of letting the process grow.
    """
    return int(psutil.virtual_memory().total) * 1_000_000


@register_scenario
class ErrorScenariosScenario(Scenario):
    """Provoke three real failures and carry on after each one."""

    name = "error_scenarios"
    order = 50
    description = (
        "A real query stopped by the database after 3 s, a real MemoryError from "
        "an allocation that cannot succeed, and a real HTTP 500 after 0.5 s."
    )
    nominal_latencies_s = {
        "query_timeout": QUERY_TIMEOUT_S,
        "http_500": NOMINAL_LATENCY_S["order-invoice"],
    }

    def run(self) -> dict[str, Any]:
        """Run the three failures and return how each one ended."""
        return {
            "query_timeout": self._query_timeout(),
            "memory_error": self._memory_error(),
            "http_500": self._http_500(),
        }

    def _query_timeout(self) -> dict[str, Any]:
        timeout_s = self.context.scaled(QUERY_TIMEOUT_S)
        # No timer around it: the query itself is recorded, error and all,
        # and a second record would count one failure twice.
        try:
            run_runaway_query(timeout_s)
        except OperationalError as exc:
            self.context.say(f"runaway query stopped after {timeout_s:.2f} s: {exc}")
            return {"caught": type(exc).__name__, "timeout_s": timeout_s}
        return {"caught": None, "timeout_s": timeout_s}

    def _memory_error(self) -> dict[str, Any]:
        size = impossible_allocation_bytes()
        try:
            with self.monitor.measure_execution_time("errors.impossible_allocation"):
                buffer = bytearray(size)
                del buffer
        except MemoryError as exc:
            self.context.say(f"allocating {size:,} bytes raised MemoryError")
            return {"caught": type(exc).__name__, "requested_bytes": size}
        return {"caught": None, "requested_bytes": size}

    def _http_500(self) -> dict[str, Any]:
        order = Order.objects.order_by("id").first()
        if order is None:
            raise RuntimeError("the shop has no orders to invoice")
        path = f"/api/orders/{order.pk}/invoice/"
        with LoopbackServer() as server:
            result = request_json(server.base_url, "GET", path)
        self.context.say(f"GET {path} -> {result.status}")
        return {"path": path, "status": result.status}
