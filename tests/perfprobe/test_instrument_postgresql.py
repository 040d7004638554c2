"""Tests for perfprobe.db.instrument against what only PostgreSQL does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor
from perfprobe.db.fingerprint import fingerprint
from perfprobe.events import QueryEvent
from tests.aliases import extra_alias

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: set DATABASE_URL (see make test-postgres)",
    ),
]

Queries = Callable[[], list[QueryEvent]]


@pytest.fixture
def server_binding_alias(django_db_blocker: Any) -> Iterator[str]:
    """Add an alias to the test database that binds parameters in the server."""
    alias = "perfprobe_server_binding"
    default = connections.settings[DEFAULT_DB_ALIAS]
    settings = {
        **default,
        "OPTIONS": {**default.get("OPTIONS", {}), "server_side_binding": True},
    }
    with extra_alias(alias, settings, django_db_blocker):
        yield alias


def test_composed_sql_is_fingerprinted_as_the_statement_it_renders(
    recorded_queries: Queries,
) -> None:
    """A psycopg sql.Composed query gets the shape of its SQL, not of its repr."""
    from psycopg import sql

    statement = sql.SQL("SELECT {} FROM {} WHERE {} = {}").format(
        sql.Identifier("id"),
        sql.Identifier("shop_customer"),
        sql.Identifier("name"),
        sql.Literal("someone@example.com"),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement)

    (event,) = recorded_queries()
    assert event.fingerprint == 'SELECT "id" FROM "shop_customer" WHERE "name" = ?'
    assert "someone" not in event.sql


def test_server_side_binding_records_the_sql_django_wrote(
    server_binding_alias: str, recorded_queries: Queries
) -> None:
    """With server_side_binding the query keeps Django's SQL and a parameter hash."""
    Customer.objects.using(server_binding_alias).filter(name="a").count()
    Customer.objects.using(server_binding_alias).filter(name="b").count()

    first, second = recorded_queries()
    assert first.alias == server_binding_alias
    assert first.fingerprint == (
        'SELECT COUNT(*) AS "__count" FROM "shop_customer" '
        'WHERE "shop_customer"."name" = ?'
    )
    assert second.fingerprint == first.fingerprint
    assert second.params_hash != first.params_hash


def test_schema_qualified_names_are_kept(recorded_queries: Queries) -> None:
    """A schema-qualified table keeps both quoted names in its fingerprint."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT COUNT(*) FROM "public"."shop_customer" WHERE "id" > %s', [5]
        )

    (event,) = recorded_queries()
    assert event.fingerprint == (
        'SELECT COUNT(*) FROM "public"."shop_customer" WHERE "id" > ?'
    )


def test_executemany_on_psycopg_is_one_event_with_its_batch_size(
    recorded_queries: Queries,
) -> None:
    """psycopg's executemany of four rows is one recorded call of batch size 4."""
    sql = "INSERT INTO shop_customer (name, email, created_at) VALUES (%s, %s, now())"
    rows = [(f"n{i}", f"e{i}@example.com") for i in range(4)]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)

    (event,) = recorded_queries()
    assert (event.many, event.batch_size) == (True, 4)
    assert event.fingerprint == (
        "INSERT INTO shop_customer (name, email, created_at) VALUES (?, ?, now())"
    )
    assert Customer.objects.count() == 4


def test_a_nested_comment_run_on_postgresql_reaches_no_report(
    recorded_queries: Queries, fresh_monitor: PerformanceMonitor
) -> None:
    """PostgreSQL runs the statement with a nested comment; its tail is not kept."""
    secret = "alice.secret@example.com"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 AS x /* request /* trace */ user={secret} */")
        assert cursor.fetchone() == (1,)

    (event,) = recorded_queries()
    assert event.fingerprint == "SELECT ? AS x"
    assert secret not in fresh_monitor.generate_report(title="t").to_json()


@pytest.mark.parametrize(
    ("sql", "columns", "expected"),
    [
        ("SELECT 1 /* a /* b */ , 2 */ , 3", 2, "SELECT ? , ?"),
        ("SELECT 1 /* 1 /* 2 /* 3 */ , 2 */ , 3 */ , 4", 2, "SELECT ? , ?"),
        ("SELECT 1 /*/ , 2 */ , 3", 2, "SELECT ? , ?"),
        ("SELECT '/* x', 2 /* '*/ , 3", 3, "SELECT ?, ? , ?"),
    ],
)
def test_postgresql_ends_nested_comments_where_the_fingerprint_does(
    sql: str, columns: int, expected: str
) -> None:
    """The server's own column count confirms which text was comment."""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert len(cursor.fetchone()) == columns

    assert fingerprint(sql) == expected
