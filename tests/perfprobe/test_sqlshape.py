"""Test the slow-query advice on what a query returns and how it filters.

The SQL is what Django sends for real querysets (read through an
``execute_wrapper``), and the LIKE patterns are Django's own parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, QuerySet, Sum

from apps.shop.latency import DatabaseDelay
from apps.shop.models import Customer, Inventory, Product
from perfprobe.db.fingerprint import fingerprint
from perfprobe.report.indexes import check_indexes
from perfprobe.report.sqlshape import read_shape, without_delay

from .report_factories import build, make_collector, query

pytestmark = pytest.mark.django_db


def _sent(run: Any) -> tuple[str, list[Any]]:
    """Return the one statement (and parameters) ``run()`` sends, as recorded."""
    sent: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        run()
    ((sql, params),) = sent
    return fingerprint(sql), list(params)


def _advice(sql: str, call_site: str | None, vendor: str = "sqlite") -> str:
    collector = make_collector()
    collector.record_query(query(sql, 0.8, call_site=call_site, vendor=vendor), None)
    (rec,) = build(collector).recommendations_by_rule("slow-query")
    return rec.suggestion


def _source(tmp_path: Path, line: str, name: str = "search.py") -> str:
    """Write ``line`` as line 3 of file ``name``; return its call site."""
    path = tmp_path / name
    path.write_text(f"import x\n\n{line}\n", encoding="utf-8")
    return f"{path}:3"


def test_icontains_count_is_told_no_index_serves_it(tmp_path: Path) -> None:
    """The fresh user's query: LIKE '%zz%' in a COUNT(*), no index, no paging."""
    sql, params = _sent(lambda: Customer.objects.filter(name__icontains="zz").count())
    site = _source(
        tmp_path, "n = Customer.objects.filter(name__icontains='zz').count()"
    )

    text = _advice(sql, site)

    assert params[0] == "%zz%"  # Django's pattern starts with the wildcard
    assert read_shape(sql, site).rows == "one"
    assert "pattern that starts with % (icontains at the call site)" in text
    assert "no B-tree index can serve" in text
    assert "add an index" not in text and "may help" not in text
    assert "paginate" not in text
    assert "returns a single row" in text


def test_a_like_whose_pattern_is_unknown_is_told_both_ways() -> None:
    """No call-site source: the wildcard is unknown, and the advice says if."""
    sql, params = _sent(lambda: list(Customer.objects.filter(name__startswith="zz")))

    text = _advice(sql, "apps/missing.py:4")

    assert params[0] == "zz%"
    assert "If the pattern starts with % (contains, icontains, endswith)" in text
    assert "a pattern with a fixed start (startswith, istartswith) can use" in text


def test_postgresql_icontains_is_told_a_trigram_index_on_the_expression(
    tmp_path: Path,
) -> None:
    """Django's PostgreSQL icontains compares UPPER(col::text) LIKE UPPER(%s)."""
    sql = (
        'SELECT COUNT(*) AS "__count" FROM "shop_customer" WHERE '
        'UPPER("shop_customer"."name"::text) LIKE UPPER(%s)'
    )
    site = _source(tmp_path, "Customer.objects.filter(name__icontains=q).count()")

    text = _advice(sql, site, vendor="postgresql")

    assert "gin_trgm_ops" in text and "UPPER(shop_customer.name)" in text
    # The function on the column is icontains' own: no "compare the raw column".
    assert "compare the raw column" not in text


@pytest.mark.parametrize(
    "queryset",
    [
        # apps/debugging/scenarios/database.py:51: revenue per category.
        Product.objects.values("category")
        .annotate(revenue=Sum("orderitem__unit_price"), lines=Count("orderitem"))
        .order_by("-revenue"),
        # apps/shop/views.py: orders by status.
        Product.objects.values("category").annotate(count=Count("id")),
    ],
    ids=["revenue", "by-status"],
)
def test_a_group_by_aggregate_is_not_told_to_paginate(
    queryset: QuerySet,  # type: ignore[type-arg]
) -> None:
    """A GROUP BY returns a row per group: cache or summarise, not paginate."""
    sql, _params = _sent(lambda: list(queryset))

    text = _advice(sql, None)

    assert "one row per group" in text
    assert "paginate" not in text


def test_the_demo_delay_is_no_filter() -> None:
    """DatabaseDelay beside a one-to-one lookup: the lookup's index is named."""
    sql, _params = _sent(
        lambda: list(Inventory.objects.filter(DatabaseDelay(0.0), product_id=7))
    )

    verdict = check_indexes(sql)
    text = _advice(sql, None)

    # perfprobe_sleep() on SQLite, pg_sleep() on PostgreSQL.
    assert "sleep(" not in without_delay(sql)
    assert verdict is not None and verdict.few_rows
    assert "Inventory.product: one-to-one, unique" in text
    assert "returns at most a few rows" in text
    assert "paginate" not in text


@pytest.mark.parametrize("selected", ["0", "?"])
def test_the_postgresql_delay_is_no_filter(selected: str) -> None:
    """The one-time (SELECT 0 FROM pg_sleep(?)) = 0 is taken out as well.

    As sent, and as fingerprinted (its 0s made ?), which is what reports hold.
    """
    sql = (
        'SELECT "shop_customer"."id" FROM "shop_customer" WHERE '
        f"((SELECT {selected} FROM pg_sleep(?::float8)) = {selected} "
        'AND "shop_customer"."id" = ?)'
    )
    assert without_delay(sql) == (
        'SELECT "shop_customer"."id" FROM "shop_customer" WHERE '
        '("shop_customer"."id" = ?)'
    )


def test_a_sorted_limited_query_without_a_filter_names_its_sort() -> None:
    """ORDER BY created_at LIMIT n: the sort column, and no pagination."""
    sql = (
        'SELECT "shop_order"."id" FROM "shop_order" WHERE perfprobe_sleep(?) = ? '
        'ORDER BY "shop_order"."created_at" DESC LIMIT ?'
    )

    text = _advice(sql, None)

    assert "the columns it sorts by (shop_order.created_at)" in text
    # The clause on the index is set off by commas on both sides.
    assert (
        "(shop_order.created_at), which lets it read its first rows in order "
        "instead of sorting them all, may help" in text
    )
    assert "paginate" not in text


def test_a_line_that_also_filters_another_column_by_prefix_is_not_known(
    tmp_path: Path,
) -> None:
    """name__icontains and sku__startswith: the sku pattern has no leading %."""
    sql, params = _sent(
        lambda: list(Product.objects.filter(name__icontains="zz", sku__startswith="A"))
    )
    both = _source(
        tmp_path, "Product.objects.filter(name__icontains=q, sku__startswith=p)"
    )
    related = _source(
        tmp_path, "Order.objects.filter(customer__name__icontains=q)", "orders.py"
    )

    assert sorted(params) == ["%zz%", "A%"]
    assert read_shape(sql, both).leading_wildcard is False
    customer_sql = (
        'SELECT "shop_order"."id" FROM "shop_order" INNER JOIN "shop_customer" ON '
        '("shop_order"."customer_id" = "shop_customer"."id") WHERE '
        '"shop_customer"."name" LIKE ? ESCAPE ?'
    )
    assert read_shape(customer_sql, related).lookup == "icontains"


def test_a_literal_pattern_is_read_from_the_sql() -> None:
    """Raw SQL with its values: '%zz%' leads with %, 'zz%' does not."""
    sql = 'SELECT COUNT(*) FROM "shop_customer" WHERE "shop_customer"."name" LIKE '

    assert read_shape(sql + "'%zz%' ESCAPE '\\'").leading_wildcard is True
    assert read_shape(sql + "'zz%' ESCAPE '\\'").leading_wildcard is False
    assert read_shape(sql + "UPPER('%zz%')").leading_wildcard is True
