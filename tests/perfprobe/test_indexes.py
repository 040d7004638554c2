"""Test the slow-query advice against the demo shop's real model indexes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.db.models import QuerySet

from apps.shop.models import Customer, Inventory, Order, OrderItem, Product
from perfprobe.db.fingerprint import fingerprint
from perfprobe.report import indexes
from perfprobe.report.indexes import check_indexes

from .report_factories import build, make_collector, query


def _sql(queryset: QuerySet) -> str:  # type: ignore[type-arg]
    """Return the queryset's SQL as perfprobe records it (a fingerprint)."""
    # With its placeholders, as the database gets it (str() inlines values).
    sql, _params = queryset.query.sql_with_params()
    return fingerprint(sql)


def _advice(sql: str) -> str:
    """Return the suggestion of the slow-query finding for a 0.8 s run of ``sql``."""
    collector = make_collector()
    collector.record_query(query(sql, 0.8, call_site="apps/q.py:9"), None)
    (rec,) = build(collector).recommendations_by_rule("slow-query")
    return rec.suggestion


@pytest.mark.parametrize(
    "queryset",
    [
        # .filter(pk=pk).first(): the primary key.
        Order.objects.filter(pk=3).order_by("pk")[:1],
        # in_bulk() / pk__in: the primary key again.
        Product.objects.filter(pk__in=[1, 2, 3]),
        # A OneToOneField is unique, so it has a unique index.
        Inventory.objects.filter(product_id=7),
        # EmailField(unique=True).
        Customer.objects.filter(email="a@example.com"),
    ],
    ids=["pk-first", "pk-in", "one-to-one", "unique-email"],
)
def test_an_indexed_unique_lookup_is_not_told_to_add_an_index_or_paginate(
    queryset: QuerySet,  # type: ignore[type-arg]
) -> None:
    """A lookup on a primary key or unique column points at other causes."""
    text = _advice(_sql(queryset))

    assert "already has an index" in text
    assert "add an index" not in text
    assert "paginate" not in text
    assert "how many rows it returns" not in text
    assert "lock" in text


def test_an_indexed_filter_that_can_return_many_rows_keeps_the_pagination_hint() -> (
    None
):
    """A filter on a foreign key's index can return many rows: paginate stays."""
    text = _advice(_sql(OrderItem.objects.filter(order_id=4)))

    assert "OrderItem.order: foreign key index" in text
    assert "how many rows it returns" in text
    assert "paginate" in text


def test_db_index_columns_are_named_with_their_index() -> None:
    """Product.category is db_index=True; Order.created_at too, filtered by range."""
    by_category = check_indexes(_sql(Product.objects.filter(category="books")))
    by_date = check_indexes(
        _sql(Order.objects.filter(created_at__gte=datetime(2026, 1, 1, tzinfo=UTC)))
    )

    assert by_category is not None and by_date is not None
    assert by_category.indexed == ("Product.category: db_index",)
    assert by_date.indexed == ("Order.created_at: db_index",)
    assert not by_category.few_rows and not by_date.few_rows


def test_a_filter_on_an_unindexed_column_names_the_column() -> None:
    """Order.status has no index: the advice says so and asks for one."""
    text = _advice(_sql(Order.objects.filter(status="paid")))

    assert "no index starts with the columns it filters on (Order.status)" in text
    assert "add one" in text


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT * FROM "legacy_table" WHERE "legacy_table"."id" = ?',
        'SELECT * FROM "shop_order" WHERE ("shop_order"."id" = ? OR "x"."y" = ?)',
        "SELECT * FROM shop_order WHERE id = ?",
    ],
    ids=["unknown-table", "or", "unquoted-raw"],
)
def test_unclear_sql_keeps_the_generic_advice(sql: str) -> None:
    """Tables no model names, OR and raw SQL give today's generic advice."""
    assert check_indexes(sql) is None
    assert "look for a full table scan" in _advice(sql)
    assert "already" not in _advice(sql)


def test_an_aggregate_filter_is_not_the_statement_s_where() -> None:
    """COUNT(...) FILTER (WHERE ...) reads every row: no index, no paginating."""
    sql = (
        'SELECT COUNT("shop_order"."id") FILTER (WHERE "shop_order"."id" = ?) '
        'FROM "shop_order"'
    )
    text = _advice(sql)

    assert check_indexes(sql) is None
    assert "it filters on no column, so it reads every row of shop_order" in text
    assert "returns a single row" in text
    assert "paginate" not in text


@pytest.mark.parametrize(
    "queryset",
    [
        Product.objects.filter(category="books", name__isnull=True),
        Product.objects.filter(category="books", name__startswith="Py"),
        Order.objects.filter(customer_id=3, status__regex="^p"),
    ],
    ids=["is-null", "like", "regex"],
)
def test_a_filter_beside_an_indexed_one_gives_no_verdict(
    queryset: QuerySet,  # type: ignore[type-arg]
) -> None:
    """Product.name and Order.status have no index: "already has one" would be false.

    The indexed column is not the only one the query filters on, so the
    advice may not say a new index is unlikely to help.
    """
    sql = _sql(queryset)

    assert check_indexes(sql) is None
    assert "already has" not in _advice(sql)


@pytest.mark.parametrize(
    "where",
    [
        '"shop_product"."category" = ? AND lower("shop_product"."name") = ?',
        '"shop_product"."category" = ? AND ? = "shop_product"."name"',
        '"shop_product"."category" = ? AND "shop_product".name = ?',
        '"shop_product"."category" = ? AND "shop.product"."name" = ?',
        '"shop_product"."category" = ? AND "shop_product"."na""me" = ?',
        # A column named like a clause does not end the WHERE.
        '"shop_product"."category" = ? AND "shop_product"."offset" = ?',
    ],
    ids=["function", "reversed", "unquoted", "dotted", "doubled-quote", "keyword"],
)
def test_a_column_outside_the_predicates_gives_no_verdict(where: str) -> None:
    """Raw SQL naming a second column in a way not parsed: no claim on the first."""
    assert check_indexes(f'SELECT * FROM "shop_product" WHERE {where}') is None


def test_a_long_unparsed_where_is_given_up_on_at_once() -> None:
    """Runs of spaces or digits before an unknown word cost no backtracking.

    With a plain ``(\\s+|...)*`` this rest took seconds (doubling with every
    space); possessive, microseconds.
    """
    sql = 'SELECT * FROM "shop_product" WHERE "shop_product"."id" = ?'
    started = time.perf_counter()

    assert check_indexes(sql + " " * 24 + "LIKE ?") is None
    assert check_indexes(sql + " AND " + "1" * 24 + "x") is None

    assert time.perf_counter() - started < 0.5


def test_no_app_registry_keeps_the_generic_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the app registry is ready there is no verdict."""
    from django.apps import apps

    monkeypatch.setattr(apps, "ready", False)
    assert check_indexes(_sql(Order.objects.filter(pk=1))) is None


def test_a_failing_model_lookup_never_breaks_the_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception while reading the models gives the generic advice."""

    def broken(model: object) -> None:
        raise RuntimeError("broken model meta")

    monkeypatch.setattr(indexes, "_columns", broken)
    text = _advice(_sql(Order.objects.filter(pk=1)))

    assert "look for a full table scan: an index on the columns it filters on" in text


def test_an_injected_sleep_is_named() -> None:
    """A query calling a sleep function is told that the sleep is its time."""
    sql = 'SELECT * FROM "shop_order" WHERE pg_sleep(?) IS NOT NULL'

    text = _advice(sql)

    assert text.startswith("It calls pg_sleep(), a delay put into the query on purpose")
    assert "beyond that: run EXPLAIN QUERY PLAN" in text


def test_the_first_column_of_unique_together_is_indexed() -> None:
    """ContentType's unique_together (app_label, model) indexes app_label."""
    from django.contrib.contenttypes.models import ContentType

    by_app = check_indexes(_sql(ContentType.objects.filter(app_label="shop")))
    by_model = check_indexes(_sql(ContentType.objects.filter(model="order")))

    assert by_app is not None and by_model is not None
    assert by_app.indexed == ("ContentType.app_label: unique_together",)
    assert not by_app.few_rows
    assert by_model.unindexed == ("ContentType.model",)
