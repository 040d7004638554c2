"""Tests for the memory scenario's job in apps.debugging.scenarios.memory."""

from __future__ import annotations

from apps.debugging.scenarios.memory import (
    ORDER_ROW,
    build_records,
    process_records,
)


def test_rows_are_separate_objects_with_the_whole_notes_area():
    """Every row is its own bytes object carrying 1,100 bytes of notes."""
    rows = build_records(1000, 0)

    assert len(rows) == 1000
    assert len({id(row) for row in rows}) == 1000
    assert {len(row) for row in rows} == {ORDER_ROW.size}
    assert all(len(ORDER_ROW.unpack(row)[-1]) == 1100 for row in rows[:10])


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


def test_only_paid_and_shipped_orders_are_priced_with_their_tax():
    """Orders 1, 2, 5, 6 of the first eight are kept, taxed as FR, NL, GB, US."""
    priced = process_records(build_records(8, 0))

    # Order 1: FR, paid, 2 x 281 = 562, 20% tax 112.4 -> 112.
    # Order 2: NL, shipped, 3 x 312 = 936, 21% tax 196.56 -> 196.
    # Order 5: GB, paid, 2 x 405 = 810, no tax. Order 6: US, 3 x 436 = 1308.
    assert priced == [
        (1, 1, 562, 112, 674),
        (2, 2, 936, 196, 1132),
        (5, 1, 810, 0, 810),
        (6, 2, 1308, 0, 1308),
    ]


def test_half_of_a_large_run_is_kept():
    """Statuses cycle in fours, so two in four of 100,000 orders are kept."""
    assert len(process_records(build_records(100_000, 42))) == 50_000
