"""Tests for perfprobe.tracing.attributes: convention names and what SQL tells."""

from __future__ import annotations

import gc
import tracemalloc
from types import SimpleNamespace
from typing import Any, cast

import pytest
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from opentelemetry.semconv._incubating.attributes import (
    db_attributes as incubating_db,
)
from opentelemetry.semconv.attributes import (
    db_attributes,
    error_attributes,
    http_attributes,
    url_attributes,
)

from perfprobe.tracing import attributes as attr


def test_names_are_the_installed_conventions_constants() -> None:
    """Every attribute name is the constant of the installed semconv package."""
    assert (
        attr.DB_SYSTEM_NAME,
        attr.DB_NAMESPACE,
        attr.DB_COLLECTION_NAME,
        attr.DB_OPERATION_NAME,
        attr.DB_OPERATION_BATCH_SIZE,
        attr.DB_QUERY_TEXT,
        attr.ERROR_TYPE,
        attr.HTTP_REQUEST_METHOD,
        attr.HTTP_ROUTE,
        attr.HTTP_RESPONSE_STATUS_CODE,
        attr.URL_SCHEME,
    ) == (
        db_attributes.DB_SYSTEM_NAME,
        db_attributes.DB_NAMESPACE,
        db_attributes.DB_COLLECTION_NAME,
        db_attributes.DB_OPERATION_NAME,
        db_attributes.DB_OPERATION_BATCH_SIZE,
        db_attributes.DB_QUERY_TEXT,
        error_attributes.ERROR_TYPE,
        http_attributes.HTTP_REQUEST_METHOD,
        http_attributes.HTTP_ROUTE,
        http_attributes.HTTP_RESPONSE_STATUS_CODE,
        url_attributes.URL_SCHEME,
    )


def fake_connection(vendor: str, **cached: Any) -> BaseDatabaseWrapper:
    """Return a stand-in connection of ``vendor`` with cached properties set."""
    return cast(BaseDatabaseWrapper, SimpleNamespace(vendor=vendor, **cached))


@pytest.mark.parametrize(
    ("vendor", "cached", "expected"),
    [
        ("postgresql", {}, db_attributes.DbSystemNameValues.POSTGRESQL.value),
        ("mysql", {}, db_attributes.DbSystemNameValues.MYSQL.value),
        (
            "mysql",
            {"mysql_is_mariadb": True},
            db_attributes.DbSystemNameValues.MARIADB.value,
        ),
        ("sqlite", {}, incubating_db.DbSystemNameValues.SQLITE.value),
        ("oracle", {}, incubating_db.DbSystemNameValues.ORACLE_DB.value),
        (
            "microsoft",
            {},
            db_attributes.DbSystemNameValues.MICROSOFT_SQL_SERVER.value,
        ),
        ("cockroach-ish", {}, incubating_db.DbSystemNameValues.OTHER_SQL.value),
    ],
)
def test_db_system_name_follows_the_backend(
    vendor: str, cached: dict[str, Any], expected: str
) -> None:
    """Each Django vendor maps to its db.system.name value from the conventions."""
    assert attr.db_system_name(fake_connection(vendor, **cached)) == expected


def test_the_suites_own_database_is_named_by_its_vendor() -> None:
    """The connection the suite runs on gets its backend's name."""
    expected = {"sqlite": "sqlite", "postgresql": "postgresql"}[connection.vendor]
    assert attr.db_system_name(connection) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT ?", "SELECT"),
        ("  select * from t", "select"),
        ('INSERT INTO "t" ("a") VALUES (?)', "INSERT"),
        ("SAVEPOINT ?", "SAVEPOINT"),
        ("WITH x AS (SELECT ?) SELECT * FROM x", None),
        ("? garbage", None),
        ("", None),
    ],
)
def test_operation_name_is_the_leading_verb(sql: str, expected: str | None) -> None:
    """The first word names the operation only when it is an SQL verb."""
    assert attr.operation_name(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "t"."id" FROM "shop_order" WHERE "t"."id" = ? LIMIT ?', "shop_order"),
        (
            'INSERT INTO "shop_product" ("name") VALUES (?) RETURNING "id"',
            "shop_product",
        ),
        ('UPDATE "shop_inventory" SET "quantity" = ? WHERE "id" = ?', "shop_inventory"),
        ('DELETE FROM "shop_order" WHERE "shop_order"."id" IN (?)', "shop_order"),
        ("SELECT * FROM `shop_order` WHERE `id` = ?", "shop_order"),
        ('SELECT "from_date", "into" FROM "t"', "t"),
        ('SELECT * FROM "public"."t" WHERE "a" = ?', "public.t"),
        ('SELECT * FROM "we""ird"', 'we"ird'),
        ("SELECT COUNT(*) FROM plain_table", "plain_table"),
        # Several tables, or none: no guess.
        ('SELECT * FROM "a" INNER JOIN "b" ON "a"."id" = "b"."a_id"', None),
        ('SELECT * FROM "a" WHERE "id" IN (SELECT "a_id" FROM "b")', None),
        ('SELECT * FROM "a" WHERE EXISTS (SELECT ?)', None),
        ('SELECT * FROM "a" UNION SELECT * FROM "b"', None),
        ('SELECT * FROM "a" WHERE "id" = ? FOR UPDATE', None),
        ("SELECT * FROM a, b", None),
        ("SELECT * FROM a x, b", None),
        ("SELECT * FROM a AS x, b", None),
        ('SELECT * FROM "s"."t", "u"', None),
        ('INSERT INTO "a" SELECT * FROM "b"', None),
        ("SELECT ?", None),
    ],
)
def test_collection_name_only_for_a_single_table(
    sql: str, expected: str | None
) -> None:
    """A statement on exactly one table names it; anything else names none."""
    assert attr.collection_name(sql) == expected


def test_huge_statements_are_not_kept_by_the_caches() -> None:
    """Twenty distinct 0.5 MB statements leave well under 1 MB behind (not 10 MB)."""
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20):
            statement = 'SELECT ? FROM "' + "c" * (500_000 + n) + '"'
            assert attr.operation_name(statement) == "SELECT"
            assert attr.collection_name(statement) == "c" * (500_000 + n)
            del statement
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 1_000_000, f"{retained / 1e6:.1f} MB retained"


def test_short_statements_are_still_answered_the_same() -> None:
    """A statement at the size limit and one past it get the same answers."""
    for length in (8192, 8193):
        name = "t" * (length - len('SELECT ? FROM ""'))
        statement = f'SELECT ? FROM "{name}"'
        assert len(statement) == length
        assert attr.operation_name(statement) == "SELECT"
        assert attr.collection_name(statement) == name
