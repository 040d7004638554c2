"""Test the advice for N+1s of COUNT or EXISTS queries, and rows built elsewhere.

The functions of ``count_rows`` run on the sample shop (50 customers); the
lines are found by the markers written next to them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.shop.sample_data import CUSTOMER_COUNT, ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.report import Recommendation
from perfprobe.report.nplusonewhere import NearbyQuery, place_n_plus_one

from . import count_rows

pytestmark = pytest.mark.django_db

_SOURCE = Path(count_rows.__file__)


def _line(marker: str) -> str:
    """Return ``path:line`` of the line of count_rows marked ``marker``."""
    lines = _SOURCE.read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(marker)]
    return f"tests/perfprobe/count_rows.py:{number}"


def _n_plus_one(
    monitor: PerformanceMonitor, run: Callable[[], object]
) -> Recommendation:
    """Run ``run`` in a scope on the sample shop; return its one N+1 finding."""
    ensure_sample_data()
    monitor.reset()
    with monitor.scope("nightly"):
        run()
    recommendations = monitor.generate_report().recommendations
    (rec,) = [r for r in recommendations if r.rule_id == "n-plus-one"]
    return rec


def test_a_count_per_row_is_reported_as_a_count_with_an_annotation(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """customer.orders.count() in a loop is one COUNT per row: annotate Count."""
    site = _line("# COUNT_LINE")
    customers = CUSTOMER_COUNT

    rec = _n_plus_one(fresh_monitor, count_rows.count_orders_per_customer)

    assert rec.evidence["count"] == customers
    assert rec.evidence["fingerprint"].startswith('SELECT COUNT(*) AS "__count"')
    assert rec.title.startswith(
        f"N+1 queries at {site}: Customer.orders counted once per row, "
        f"{customers} queries in nightly"
    )
    assert "loaded one row at a time" not in rec.title
    assert rec.suggestion == (
        "Customer.orders is counted with one COUNT query per Customer row at "
        f"{site} (customer.orders.count()); no rows are loaded one at a time. "
        f"Annotate the Customer queryset read at {site} (where it is built) with "
        '.annotate(orders_count=Count("orders")) and read customer.orders_count '
        "instead; when the orders themselves are used too, add "
        'prefetch_related("orders") there instead and take '
        "len(customer.orders.all())."
    )


def test_a_count_per_row_names_the_line_assigning_the_queryset(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The annotation goes on the queryset assigned before the loop, named."""
    assigned, loop = _line("# ASSIGNED_LINE"), _line("# ASSIGNED_LOOP_LINE")
    site = _line("# ASSIGNED_COUNT_LINE")

    rec = _n_plus_one(fresh_monitor, count_rows.count_orders_of_assigned_customers)

    assert rec.evidence["count"] == CUSTOMER_COUNT
    assert (
        f"Annotate the Customer queryset assigned to customers at {assigned} (its "
        f'query ran at {loop}) with .annotate(orders_count=Count("orders"))'
    ) in rec.suggestion, rec.suggestion
    assert site in rec.suggestion


def test_an_exists_per_row_is_reported_with_an_exists_annotation(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """customer.orders.exists() in a loop is one EXISTS per row: annotate Exists."""
    site = _line("# EXISTS_LINE")

    rec = _n_plus_one(fresh_monitor, count_rows.customers_with_orders)

    assert rec.title.startswith(
        f"N+1 queries at {site}: Customer.orders tested with exists() once per row, "
    )
    assert rec.suggestion.startswith(
        "Customer.orders is tested with one EXISTS query (SELECT 1 ... LIMIT 1) "
        f"per Customer row at {site} (customer.orders.exists()); no rows are "
        "loaded one at a time. Annotate the Customer queryset read at "
        f"{site} (where it is built) with .annotate(has_orders=Exists("
        'Order.objects.filter(customer=OuterRef("pk")))) and read '
        "customer.has_orders instead; when the orders themselves are used too, "
        'add prefetch_related("orders") there instead'
    )


def test_a_count_in_a_template_names_the_template_and_the_annotation(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """{{ c.orders.count }} in a template's loop gets the same annotation."""
    site = _line("# TEMPLATE_LINE")

    rec = _n_plus_one(fresh_monitor, count_rows.count_in_template)

    assert rec.title.startswith(
        f"N+1 queries in the template rendered at {site}: Customer.orders "
        "counted once per row, "
    )
    assert rec.suggestion.startswith(
        "Customer.orders is counted with one COUNT query per Customer row in the "
        f"template rendered at {site} ({{{{ customer.orders.count }}}}); no rows "
        "are loaded one at a time. "
        "Annotate the Customer queryset the view passes to the template with "
        '.annotate(orders_count=Count("orders"))'
    )


def test_a_count_with_no_relation_seen_is_still_called_a_count(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Order.objects.filter(customer=c).count() per customer: COUNT, no eager load."""
    site = _line("# FILTER_COUNT_LINE")

    rec = _n_plus_one(fresh_monitor, count_rows.count_orders_by_filter)

    assert rec.evidence["count"] == CUSTOMER_COUNT
    assert rec.title.startswith(
        f"N+1 queries at {site}: one COUNT query per row, {CUSTOMER_COUNT} queries"
    )
    assert rec.suggestion.endswith(
        f"counts rows once per item at {site}; no rows are loaded one at a time. "
        'Annotate the queryset the loop goes over with .annotate(n=Count("'
        '<relation>")), or run one .values("<key>").annotate(n=Count("pk")) '
        "query before the loop and turn it into a dict."
    )
    assert "select_related" not in rec.suggestion


def test_rows_built_in_a_helper_name_only_the_line_that_loaded_them(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Order queries before and after the loop are not offered as its queryset.

    The loop reads a name assigned the helper's queryset: that line is named,
    with the loop's, where the rows' query ran.
    """
    loop, use = _line("# LOOP_LINE"), _line("# USE_LINE")
    assigned = f"{loop.rpartition(':')[0]}:{int(loop.rpartition(':')[2]) - 1}"

    rec = _n_plus_one(fresh_monitor, lambda: count_rows.customer_names(8))

    assert rec.evidence["count"] == 8
    assert rec.suggestion == (
        'Add select_related("customer") to the Order queryset assigned to orders '
        f"at {assigned} (its query ran at {loop}), whose rows are used at {use}, "
        "so that Order.customer comes with them instead of once per row."
    )
    assert _line("# OTHER_ORDER_LINE") not in rec.suggestion
    assert _line("# LAST_ORDER_LINE") not in rec.suggestion


def test_the_loading_line_is_named_when_its_query_is_not_among_the_slowest_kept(
    fresh_monitor: PerformanceMonitor, settings: Any
) -> None:
    """The report keeps 3 queries (the slow lazy loads): the loader is still named.

    Neither Order query is among the slowest kept, as in a demo run of more
    queries than ``MAX_SLOW_QUERIES``; the line that ran last before the loop
    is named all the same, from the order the scope first ran its shapes in.
    """
    settings.PERFPROBE = {"MAX_SLOW_QUERIES": 3}
    recent, use = _line("# RECENT_LINE"), _line("# EMAIL_LINE")

    rec = _n_plus_one(fresh_monitor, lambda: count_rows.slow_customer_emails(8, 0.002))

    report = fresh_monitor.generate_report()
    kept = {q["call_site"] for q in report.queries["slowest"]}
    assert recent not in kept and kept == {use}
    assert rec.suggestion == (
        'Add select_related("customer") to the Order queryset at '
        f"{recent}, whose rows are used at {use}, so that Order.customer comes "
        "with them instead of once per row."
    )
    assert _line("# EARLIER_ORDER_LINE") not in rec.suggestion


_ORDERS = 'SELECT "shop_order"."id", "shop_order"."status" FROM "shop_order"'
_CUSTOMER = (
    'SELECT "shop_customer"."id" FROM "shop_customer" WHERE "shop_customer"."id" = ?'
)
_LAZY = {"model": "Order", "field": "customer", "relation": "forward foreign key"}


def test_without_run_order_several_querysets_are_not_offered_as_choices() -> None:
    """Three Order queries with no start times give no line, and say so."""
    nearby: list[NearbyQuery] = [
        ("jobs.py:25", _ORDERS, None),
        ("jobs.py:31", _ORDERS, None),
        ("jobs.py:33", _ORDERS, None),
        ("jobs.py:32", _CUSTOMER, _LAZY),
    ]

    place = place_n_plus_one(_CUSTOMER, "jobs.py:32", _LAZY, nearby)

    assert place.suggestion == (
        'Add select_related("customer") where the Order rows used at jobs.py:32 '
        "are loaded, so that Order.customer comes with them instead of once per "
        "row (several lines ran Order queries in the same scope as this loop, "
        "and the report could not tell which of them loaded these rows)."
    )


def test_the_last_order_query_before_the_loop_is_the_one_named() -> None:
    """With start times, the query just before the first lazy load is chosen."""
    nearby: list[NearbyQuery] = [
        ("jobs.py:25", _ORDERS, None, ("job", 1, 1.0)),
        ("jobs.py:31", _ORDERS, None, ("job", 1, 2.0)),
        ("jobs.py:32", _CUSTOMER, _LAZY, ("job", 1, 3.0)),
        ("jobs.py:32", _CUSTOMER, _LAZY, ("job", 1, 4.0)),
        ("jobs.py:33", _ORDERS, None, ("job", 1, 5.0)),
    ]

    place = place_n_plus_one(_CUSTOMER, "jobs.py:32", _LAZY, nearby)

    assert place.suggestion.startswith(
        'Add select_related("customer") to the Order queryset at jobs.py:31, '
        "whose rows are used at jobs.py:32,"
    )


def test_an_order_query_run_only_after_the_loop_is_not_named() -> None:
    """The one Order query in the scope ran after the lazy loads: no line."""
    nearby: list[NearbyQuery] = [
        ("jobs.py:32", _CUSTOMER, _LAZY, ("job", 1, 3.0)),
        ("jobs.py:32", _CUSTOMER, _LAZY, ("job", 1, 4.0)),
        ("jobs.py:35", _ORDERS, None, ("job", 1, 5.0)),
    ]

    place = place_n_plus_one(_CUSTOMER, "jobs.py:32", _LAZY, nearby)

    assert "jobs.py:35" not in place.suggestion
    assert place.suggestion.startswith(
        'Add select_related("customer") where these Order rows are loaded for '
        "jobs.py:32,"
    )


def test_scopes_whose_loops_follow_different_queries_give_no_line() -> None:
    """Two scopes naming different lines leave the queryset unknown."""
    nearby: list[NearbyQuery] = [
        ("jobs.py:25", _ORDERS, None, ("a", 1, 1.0)),
        ("jobs.py:32", _CUSTOMER, _LAZY, ("a", 1, 2.0)),
        ("jobs.py:31", _ORDERS, None, ("b", 2, 1.0)),
        ("jobs.py:32", _CUSTOMER, _LAZY, ("b", 2, 2.0)),
    ]

    place = place_n_plus_one(_CUSTOMER, "jobs.py:32", _LAZY, nearby)

    assert "could not tell" in place.suggestion
    assert "jobs.py:25" not in place.suggestion
    assert "jobs.py:31" not in place.suggestion
