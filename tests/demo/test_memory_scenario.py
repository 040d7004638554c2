"""Tests for the memory scenario's job in apps.debugging.scenarios.memory."""

from __future__ import annotations

from apps.debugging.scenarios.memory import (
    ORDER_ROW,
    build_records,
    process_records,
)


def test_rows_are_separate_objects_with_the_whole_notes_area():
    """Every row is its own bytes object carrying 1,160 bytes of notes."""
    rows = build_records(1000, 0)

    assert len(rows) == 1000
    assert len({id(row) for row in rows}) == 1000
    assert {len(row) for row in rows} == {ORDER_ROW.size}
    assert all(len(ORDER_ROW.unpack(row)[-1]) == 1160 for row in rows[:10])


def test_rows_hold_their_order_fields():
    """Order 7 of a run starting at 0: customer 7, day 7, CA, cancelled, qty 4."""
    rows = build_records(10, 0)
    order_id, customer_id, day, country, status, sku, qty, unit_cents, _ = (
        ORDER_ROW.unpack(rows[7])
    )

    # Countries DE FR NL ES SE GB US CA, statuses pending paid shipped
    # cancelled, quantities 1-4, and a unit price of 250 + 31 * sku cents.
    assert (order_id, customer_id, day, sku) == (7, 7, 7, 7)
    assert (country, status, qty, unit_cents) == (7, 3, 4, 250 + 31 * 7)


def test_ids_start_at_the_offset():
    """The seed offset is the first order id."""
    rows = build_records(3, 42)

    assert [ORDER_ROW.unpack(row)[0] for row in rows] == [42, 43, 44]


def test_only_shipped_orders_are_priced_with_their_tax():
    """Orders 2, 6 and 10 of the first twelve are kept, taxed as NL, US, NL."""
    priced = process_records(build_records(12, 0))

    # Order 2: NL, 3 x 312 = 936, 21% tax 196.56 -> 196.
    # Order 6: US, 3 x 436 = 1308, no tax.
    # Order 10: NL, 3 x 560 = 1680, 21% tax 352.8 -> 352.
    assert priced == [
        (2, 936, 196, 1132),
        (6, 1308, 0, 1308),
        (10, 1680, 352, 2032),
    ]


def test_a_quarter_of_a_large_run_is_kept():
    """Statuses cycle in fours, so one in four of 100,000 orders is shipped."""
    assert len(process_records(build_records(100_000, 42))) == 25_000
