"""Scenario: build, transform and filter 100,000 order-like records in memory."""

from __future__ import annotations

import gc
from typing import Any

from .base import Scenario, register_scenario

RECORD_COUNT = 100_000
_STATUSES = ("pending", "paid", "shipped", "cancelled")
_COUNTRIES = ("DE", "FR", "NL", "ES", "SE", "GB", "US", "CA")
_TAX_PERCENT = {"DE": 19, "FR": 20, "NL": 21, "ES": 21, "SE": 25}
_SKU_COUNT = 5000


def build_records(count: int, seed_offset: int) -> list[dict[str, Any]]:
    """Return ``count`` order-like dicts with 1-3 ``(sku, qty, cents)`` lines each.

    Money is kept in integer cents, as an order system would, so totals are
    exact.
    """
    records = []
    for i in range(count):
        n = i + seed_offset
        records.append(
            {
                "order_id": n,
                "customer_id": n % 5000,
                "country": _COUNTRIES[n % len(_COUNTRIES)],
                "status": _STATUSES[n % len(_STATUSES)],
                "created_day": n % 365,
                "lines": [
                    (
                        (n * 7 + k) % _SKU_COUNT,
                        1 + (n + k) % 4,
                        250 + (n * 31 + k) % 9000,
                    )
                    for k in range(1 + n % 3)
                ],
            }
        )
    return records


def process_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return a priced copy of every order, then keep the paid and shipped ones."""
    priced = []
    for record in records:
        subtotal = sum(qty * cents for _, qty, cents in record["lines"])
        tax = subtotal * _TAX_PERCENT.get(record["country"], 0) // 100
        priced.append(
            {
                "order_id": record["order_id"],
                "customer_id": record["customer_id"],
                "status": record["status"],
                "subtotal_cents": subtotal,
                "tax_cents": tax,
                "total_cents": subtotal + tax,
                "units": sum(qty for _, qty, _ in record["lines"]),
            }
        )
    return [p for p in priced if p["status"] in ("paid", "shipped")]


@register_scenario
class MemoryIntensiveScenario(Scenario):
    """Hold 100,000 records and their transformed copies, then let them go."""

    name = "memory_intensive"
    order = 40
    description = (
        "100,000 order-like records built, transformed and filtered in Python, "
        "with memory checkpoints before, after building, after processing and "
        "after cleanup."
    )
    nominal_latencies_s = {}

    def run(self) -> dict[str, Any]:
        """Run the job inside one memory block and report what it held."""
        track = self.monitor.track_memory_usage
        with (
            self.monitor.measure_execution_time("memory.process_records"),
            track("memory_intensive") as block,
        ):
            track("before")
            records = build_records(RECORD_COUNT, self.context.seed)
            after_build = track("after_building")
            kept = process_records(records)
            after_processing = track("after_processing")
            kept_count = len(kept)
            revenue_cents = sum(r["total_cents"] for r in kept)
            del records, kept
            gc.collect()
            after_cleanup = track("after_cleanup")

        record = block.record
        details: dict[str, Any] = {
            "records_built": RECORD_COUNT,
            "records_kept": kept_count,
            "revenue_cents": revenue_cents,
            "checkpoints": [
                {
                    "label": p.label,
                    "rss_bytes": p.record.rss_bytes,
                    "heap_current_bytes": p.record.heap_current_bytes,
                }
                for p in (after_build, after_processing, after_cleanup)
                if p.record is not None
            ],
        }
        if record is not None and record.peak_above_start_bytes is not None:
            peak = record.peak_above_start_bytes
            held = record.heap_delta_bytes or 0
            details.update(
                heap_peak_above_start_bytes=peak,
                heap_still_held_bytes=held,
                heap_given_back_bytes=peak - held,
                heap_given_back_fraction=(peak - held) / peak if peak else 0.0,
                rss_delta_bytes=record.rss_delta_bytes,
            )
            self.context.say(
                f"peak {peak / 2**20:.1f} MB above start; "
                f"{(peak - held) / 2**20:.1f} MB given back after cleanup"
            )
        return details
