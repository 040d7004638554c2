"""Scenario: build, transform and filter 100,000 order-like records in memory."""

from __future__ import annotations

import gc
from typing import Any

from .base import Scenario, register_scenario

RECORD_COUNT = 100_000
_STATUSES = ("pending", "paid", "shipped", "cancelled")
_COUNTRIES = ("DE", "FR", "NL", "ES", "SE", "GB", "US", "CA")
_TAX_RATE = {"DE": 0.19, "FR": 0.20, "NL": 0.21, "ES": 0.21, "SE": 0.25}


def build_records(count: int, seed_offset: int) -> list[dict[str, Any]]:
    """Return ``count`` order-like dicts, each with its own list of line items."""
    records = []
    for i in range(count):
        n = i + seed_offset
        items = [
            {
                "sku": f"SKU-{(n * 7 + k) % 5000:05d}",
                "qty": 1 + (n + k) % 4,
                "unit_price": round(2.5 + ((n * 31 + k * 17) % 9000) / 100, 2),
            }
            for k in range(1 + n % 3)
        ]
        records.append(
            {
                "order_id": n,
                "customer_email": f"customer{n % 5000}@example.com",
                "country": _COUNTRIES[n % len(_COUNTRIES)],
                "status": _STATUSES[n % len(_STATUSES)],
                "created_at": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T12:00:00Z",
                "items": items,
                "note": f"order {n} placed through the demo shop",
            }
        )
    return records


def process_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return paid and shipped orders with their totals, tax and item count."""
    transformed = []
    for record in records:
        subtotal = sum(item["qty"] * item["unit_price"] for item in record["items"])
        tax = subtotal * _TAX_RATE.get(record["country"], 0.0)
        transformed.append(
            {
                **record,
                "subtotal": round(subtotal, 2),
                "tax": round(tax, 2),
                "total": round(subtotal + tax, 2),
                "item_count": sum(item["qty"] for item in record["items"]),
            }
        )
    return [r for r in transformed if r["status"] in ("paid", "shipped")]


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
    nominal_latencies_s: dict[str, float] = {}

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
            kept_count, revenue = len(kept), sum(r["total"] for r in kept)
            del records, kept
            gc.collect()
            after_cleanup = track("after_cleanup")

        record = block.record
        details: dict[str, Any] = {
            "records_built": RECORD_COUNT,
            "records_kept": kept_count,
            "revenue": round(revenue, 2),
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
