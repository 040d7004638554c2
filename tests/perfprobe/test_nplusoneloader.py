"""Tests for perfprobe.nplusoneloader: the rows' line, named as the scope closes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from apps.shop.models import Order
from perfprobe import PerformanceMonitor
from perfprobe.findings import NPlusOneFinding

from .test_nplusone import make_orders

pytestmark = pytest.mark.django_db

THIS_FILE = os.path.relpath(os.path.abspath(__file__), settings.BASE_DIR)


def _line(marker: str) -> str:
    """Return ``path:line`` of this file's line ending with ``marker``."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(marker)]
    return f"{THIS_FILE}:{number}"


def _finding(monitor: PerformanceMonitor, run: Callable[[], object]) -> NPlusOneFinding:
    """Run ``run`` in a scope on 6 orders; return the scope's one N+1 finding."""
    make_orders(6)
    with monitor.scope("job") as scope:
        run()
    (finding,) = scope.summary.n_plus_one
    assert isinstance(finding, NPlusOneFinding)
    return finding


def names_after_first_and_list() -> list[str]:
    """Run one .first(), then list the orders and read each one's customer."""
    Order.objects.order_by("id").first()  # FIRST_ONCE
    orders = list(Order.objects.all())  # LIST_ONCE
    return [order.customer.name for order in orders]


def names_after_a_repeated_lookup() -> list[str]:
    """Look an order up twice at one line, list them at another, then loop."""
    for number in (1, 2):
        Order.objects.filter(pk=number).first()  # LOOKUP_TWICE
    orders = list(Order.objects.all())  # LIST_AFTER_LOOKUPS
    return [order.customer.name for order in orders]


def names_with_an_order_query_after() -> list[str]:
    """List the orders, read each one's customer, then run another Order query."""
    orders = list(Order.objects.all())  # LIST_BEFORE
    names = [order.customer.name for order in orders]
    Order.objects.order_by("id").last()  # AFTER_LOOP
    return names


def test_the_line_first_run_last_before_the_loop_is_named(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """An earlier Order query that ran once is not the rows' line: one line."""
    finding = _finding(fresh_monitor, names_after_first_and_list)

    assert finding.rows_loaded_at == (_line("# LIST_ONCE"),)
    assert finding.to_dict()["rows_loaded_at"] == [_line("# LIST_ONCE")]


def test_an_earlier_line_run_twice_leaves_the_choice_open(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A line that ran more than once may have run last: both lines, no choice."""
    finding = _finding(fresh_monitor, names_after_a_repeated_lookup)

    assert finding.rows_loaded_at == tuple(
        sorted((_line("# LOOKUP_TWICE"), _line("# LIST_AFTER_LOOKUPS")))
    )


def test_an_order_query_run_after_the_loop_is_not_named(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A query first run after the loop's first is no candidate for its rows."""
    finding = _finding(fresh_monitor, names_with_an_order_query_after)

    assert finding.rows_loaded_at == (_line("# LIST_BEFORE"),)
