"""Scenario: build 100,000 order rows in memory, then filter and price them."""

from __future__ import annotations

import gc
import struct
from collections.abc import Iterator
from itertools import cycle, islice, repeat, starmap
from typing import Any

from .base import Scenario, register_scenario

RECORD_COUNT = 100_000
_STATUSES = ("pending", "paid", "shipped", "cancelled")
_INVOICED_STATUS = _STATUSES.index("shipped")
_COUNTRIES = ("DE", "FR", "NL", "ES", "SE", "GB", "US", "CA")
_TAX_PERCENT = tuple(
    {"DE": 19, "FR": 20, "NL": 21, "ES": 21, "SE": 25}.get(code, 0)
    for code in _COUNTRIES
)
# Rows built per C-level loop; see build_records.
_SLICE_ROWS = 5000
_CUSTOMER_COUNT = 5000
_SKU_COUNT = 5000
_UNIT_CENTS = tuple(250 + (sku * 31) % 9000 for sku in range(_SKU_COUNT))

#: One order as a fixed-width row, the way a whole-row export or a wide table
#: hands it over: order id, customer id, day of the year, country code, status
#: code, sku, quantity, unit price in cents, then a 1,160-byte text area
#: (address and delivery notes) that pricing never reads.
ORDER_ROW = struct.Struct("<IIHBBHBI1160s")
#: Where the status code sits in a row.
STATUS_OFFSET = 11
#: Order id, country, quantity and unit price, read in place.
_PRICING_FIELDS = struct.Struct("<I6xB3xBI")
_NOTES = (b"Ring twice; if nobody answers leave it with the neighbour. " * 20)[:1160]

#: ``(order_id, subtotal, tax, total)``, money in integer cents.
PricedOrder = tuple[int, int, int, int]


def build_records(count: int, seed_offset: int) -> list[bytes]:
    """Return ``count`` order rows laid out as ``ORDER_ROW``, ids from ``seed_offset``.

    Every row is its own bytes object of about 1.2 KB, as a query that loads
    whole rows materialises them. The fields cycle through 5,000 customers,
    365 days, the countries, the statuses, 5,000 skus and quantities 1-4.
    """
    # cycle() hands out the same int objects again, and zip() reuses its
    # tuple once starmap() has let go of it, so a row costs two allocations
    # (its id and itself). map() over these nine columns would also allocate
    # and free an argument array per row (it keeps one on the stack only for
    # up to five). Allocations are what make the job dear under tracemalloc.
    columns = (
        range(seed_offset, seed_offset + count),
        cycle(range(_CUSTOMER_COUNT)),
        cycle(range(365)),
        cycle(range(len(_COUNTRIES))),
        cycle(range(len(_STATUSES))),
        cycle(range(_SKU_COUNT)),
        cycle(range(1, 5)),
        cycle(_UNIT_CENTS),
        repeat(_NOTES, count),
    )
    # The cycles never end: the ids (and the notes) stop the rows at count.
    rows_left = starmap(ORDER_ROW.pack, zip(*columns, strict=False))
    rows: list[bytes] = []
    # In slices: Python handles a signal only between bytecodes, so Ctrl-C
    # would otherwise wait for one C loop over all the rows (a second or
    # more under tracemalloc) before it stopped anything.
    while len(rows) < count:
        _take_slice(rows, rows_left)
    return rows


# tracemalloc files every allocation under the line the innermost Python
# frame is at, and CPython 3.11 finds that line by walking the frame's code
# from its first instruction. The C loops that allocate the rows and their
# priced copies therefore run from tiny functions, where that walk is a few
# steps, not from the end of a long one: under tracemalloc, the walk was
# most of the job's time (see docs/performance-notes.md, 4 December 2026).


def _take_slice(rows: list[bytes], rows_left: Iterator[bytes]) -> None:
    rows.extend(islice(rows_left, _SLICE_ROWS))


def _price(fields: tuple[int, int, int, int]) -> PricedOrder:
    order_id, country, quantity, unit_cents = fields
    subtotal = quantity * unit_cents
    tax = subtotal * _TAX_PERCENT[country] // 100
    return order_id, subtotal, tax, subtotal + tax


def process_records(records: list[bytes]) -> list[PricedOrder]:
    """Return a priced copy of every shipped order (the ones to invoice), in order.

    Money is kept in integer cents, as an order system would, so totals are
    exact.
    """
    # Indexing bytes gives a cached small int, so the orders skipped cost no
    # allocation at all.
    shipped = [row for row in records if row[STATUS_OFFSET] == _INVOICED_STATUS]
    return list(map(_price, map(_PRICING_FIELDS.unpack_from, shipped)))


@register_scenario
class MemoryIntensiveScenario(Scenario):
    """Hold 100,000 order rows and their priced copies, then let them go."""

    name = "memory_intensive"
    order = 40
    description = (
        "100,000 order rows of 1.2 KB each (mostly an address and notes area "
        "the job never reads) built in Python, then the shipped ones priced "
        "for invoicing, with memory checkpoints before, after building, after "
        "processing and after cleanup."
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
            # Order ids are unsigned 32-bit: any seed (negative, huge) must
            # give ids that fit.
            first_id = self.context.use_seed() % (2**32 - RECORD_COUNT)
            records = build_records(RECORD_COUNT, first_id)
            after_build = track("after_building")
            kept = process_records(records)
            after_processing = track("after_processing")
            kept_count = len(kept)
            revenue_cents = sum(p[3] for p in kept)
            del records, kept
            gc.collect()
            after_cleanup = track("after_cleanup")

        record = block.record
        details: dict[str, Any] = {
            "records_built": RECORD_COUNT,
            "record_bytes": ORDER_ROW.size,
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
