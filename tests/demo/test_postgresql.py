"""Tests that the shop sleeps and times out in the PostgreSQL server itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.db import connections as all_connections

from apps.shop.latency import DatabaseDelay, run_runaway_query, statement_timeout
from apps.shop.models import Customer
from perfprobe.events import QueryEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: set DATABASE_URL (see make test-postgres)",
    ),
]

Queries = Callable[[], list[QueryEvent]]

# The runaway query's shape, written out by hand from RUNAWAY_QUERY_SQL.
RUNAWAY_FINGERPRINT = (
    "WITH RECURSIVE counter(n) AS (SELECT CAST(? AS BIGINT) UNION ALL "
    "SELECT n + ? FROM counter) SELECT COUNT(*) FROM counter"
)


def _sleeping_queries(found: list[str], stop: threading.Event) -> None:
    """Collect, from a connection of its own, queries the server says sleep."""
    try:
        while not stop.is_set() and not found:
            with connection.cursor() as cursor:
                # PgSleep is the wait event of a backend inside pg_sleep().
                cursor.execute(
                    "SELECT query FROM pg_stat_activity "
                    "WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
                )
                found.extend(row[0] for row in cursor.fetchall())
            time.sleep(0.02)
    finally:
        connection.close()


def test_delay_is_the_servers_pg_sleep(recorded_queries: Queries) -> None:
    """While a delayed query runs, the server reports it waiting in pg_sleep."""
    found: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_sleeping_queries, args=(found, stop))
    watcher.start()
    try:
        started = time.perf_counter()
        rows = list(Customer.objects.filter(DatabaseDelay(0.6)))
        elapsed_s = time.perf_counter() - started
    finally:
        stop.set()
        watcher.join()

    assert rows == []
    assert 0.59 <= elapsed_s < 2.0
    assert found, "no backend was seen waiting in pg_sleep"
    assert "pg_sleep(" in found[0]
    (delayed,) = [q for q in recorded_queries() if "shop_customer" in q.fingerprint]
    assert "WHERE (SELECT ? FROM pg_sleep(?::float8)) = ?" in delayed.fingerprint
    assert delayed.duration_s >= 0.59


def test_timeout_is_the_servers_statement_timeout(recorded_queries: Queries) -> None:
    """The runaway query ends as PostgreSQL's query_canceled, SQLSTATE 57014."""
    import psycopg

    started = time.perf_counter()
    with pytest.raises(OperationalError) as excinfo:
        run_runaway_query(0.4)
    elapsed_s = time.perf_counter() - started

    cause: Any = excinfo.value.__cause__
    assert isinstance(cause, psycopg.errors.QueryCanceled)
    assert cause.sqlstate == "57014"
    assert "statement timeout" in str(excinfo.value)
    assert 0.39 <= elapsed_s < 1.5
    (runaway,) = [q for q in recorded_queries() if q.error_type is not None]
    assert runaway.fingerprint == RUNAWAY_FINGERPRINT
    assert runaway.error_type == "django.db.utils.OperationalError"
    assert 0.39 <= runaway.duration_s < 1.5


def test_statement_timeout_is_set_only_inside_the_block() -> None:
    """The server's statement_timeout is 400ms in the block and 0 again after."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)
        with statement_timeout(0.4):
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone() == ("400ms",)
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)


def test_a_timeout_caught_inside_the_block_rolls_the_block_back() -> None:
    """Catching the timeout inside the block rolls its work back, not the test's."""
    Customer.objects.create(name="kept", email="kept@example.com")
    with statement_timeout(0.2):
        Customer.objects.create(name="undone", email="undone@example.com")
        with pytest.raises(OperationalError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")

    assert list(Customer.objects.values_list("name", flat=True)) == ["kept"]
    assert all_connections["default"].needs_rollback is False
