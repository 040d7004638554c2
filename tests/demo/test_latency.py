"""Tests for apps.shop.latency and apps.shop.timeouts."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import NotSupportedError, OperationalError, connection
from django.test.utils import CaptureQueriesContext

from apps.shop.latency import (
    NOMINAL_LATENCY_S,
    RUNAWAY_QUERY_SQL,
    DatabaseDelay,
    delayed,
    get_latency_scale,
    inject_query_latency,
    run_runaway_query,
    set_latency_scale,
    statement_timeout,
)
from apps.shop.models import Customer, Order, Product
from tests.demo.backend import sleep_call, slept_s

pytestmark = pytest.mark.django_db

T = TypeVar("T")

# Takes far more than SQLite's 1,000 steps between progress-handler calls.
BOUNDED_QUERY_SQL = (
    "WITH RECURSIVE counter(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 10000) "
    "SELECT COUNT(*) FROM counter"
)


def _timed(func: Callable[[], T]) -> tuple[T, float]:
    """Return what ``func`` returns and how many seconds the call took."""
    started = time.perf_counter()
    result = func()
    return result, time.perf_counter() - started


@pytest.mark.usefixtures("shop")
def test_delay_runs_once_per_query_not_per_row(django_assert_num_queries):
    """A 0.1 s delay on a 50-row query costs about 0.1 s in one query."""
    with django_assert_num_queries(1):
        rows, elapsed_s = _timed(
            lambda: list(Customer.objects.filter(DatabaseDelay(0.1))[:50])
        )

    assert len(rows) == 50
    assert 0.09 <= elapsed_s < 0.5


@pytest.mark.usefixtures("shop")
def test_delay_applies_when_no_row_matches():
    """The delay is paid even when another condition rejects every row."""
    queryset = Product.objects.filter(category="no-such-category")

    rows, elapsed_s = _timed(lambda: list(queryset.filter(DatabaseDelay(0.1))))

    assert rows == []
    # Once, not once per row scanned (200 products: 20 s); the 0.5 s this
    # allowed before was missed on a loaded machine.
    assert 0.09 <= elapsed_s < 2.0


def test_delay_passes_seconds_as_a_parameter():
    """The delay's seconds travel as a query parameter, not in the SQL."""
    query = Customer.objects.filter(DatabaseDelay(0.25)).query

    sql, params = query.sql_with_params()

    expected = {
        "sqlite": "perfprobe_sleep(%s) = 0",
        # A subquery, so that PostgreSQL runs it once as a one-time filter.
        "postgresql": "(SELECT 0 FROM pg_sleep(%s::float8)) = 0",
    }[connection.vendor]
    assert expected in sql
    assert params == (0.25,)


@pytest.mark.parametrize("seconds", [-0.1, math.nan, math.inf])
def test_delay_rejects_invalid_seconds(seconds):
    """DatabaseDelay refuses negative and non-finite durations."""
    with pytest.raises(ValueError, match="seconds"):
        DatabaseDelay(seconds)


def test_sleep_function_returns_zero():
    """perfprobe_sleep() is defined on SQLite connections and returns 0."""
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite needs the function; PostgreSQL calls pg_sleep()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT perfprobe_sleep(0)")
        assert cursor.fetchone() == (0,)


def test_delayed_leaves_queryset_unchanged_at_zero_scale():
    """With the scale at 0, delayed() returns the very same queryset."""
    queryset = Product.objects.all()

    assert delayed(queryset, 5.0) is queryset


@pytest.mark.usefixtures("shop")
def test_delayed_multiplies_by_the_scale():
    """A nominal 0.4 s at scale 0.25 sleeps about 0.1 s."""
    set_latency_scale(0.25)

    with CaptureQueriesContext(connection) as queries:
        _, elapsed_s = _timed(lambda: list(delayed(Product.objects.all(), 0.4)))

    # The delay asked of the database, exactly: a timing limit could not
    # tell 0.1 s from an unscaled 0.4 s on a busy machine.
    assert [slept_s(q["sql"]) for q in queries] == [pytest.approx(0.1)]
    assert elapsed_s >= 0.09


@pytest.mark.usefixtures("shop")
def test_delayed_takes_a_sliced_queryset(django_assert_num_queries):
    """A sliced queryset is delayed and keeps its slice, in one query.

    In a user trial, ``delayed(Order.objects.order_by(...)[:8], 0.2)`` in a
    scenario of one's own failed with Django's "Cannot filter a query once a
    slice has been taken".
    """
    set_latency_scale(0.25)
    sliced = Customer.objects.order_by("-id")[1:4]
    expected = [customer.pk for customer in sliced]

    with django_assert_num_queries(1) as queries:
        rows, elapsed_s = _timed(lambda: list(delayed(sliced, 0.4)))

    assert [customer.pk for customer in rows] == expected
    assert len(expected) == 3
    assert slept_s(queries[0]["sql"]) == pytest.approx(0.1)
    assert elapsed_s >= 0.09


def test_scale_follows_the_setting_without_an_override(settings):
    """get_latency_scale() reads SHOP_LATENCY_SCALE when not overridden."""
    settings.SHOP_LATENCY_SCALE = 0.5
    set_latency_scale(None)

    assert get_latency_scale() == 0.5
    set_latency_scale(2.0)
    assert get_latency_scale() == 2.0


@pytest.mark.parametrize("scale", [-1.0, math.nan])
def test_scale_rejects_invalid_values(scale):
    """set_latency_scale() refuses negative and non-finite factors."""
    with pytest.raises(ValueError, match="scale"):
        set_latency_scale(scale)


def test_nominal_latencies_cover_every_endpoint():
    """Each shop endpoint has a documented nominal latency."""
    assert NOMINAL_LATENCY_S == {
        "product-list": 0.2,
        "order-create": 0.8,
        "order-detail": 0.05,
        "user-profile": 0.1,
        "inventory-update": 1.2,
        "analytics-dashboard": 2.0,
        "order-invoice": 0.5,
    }


@pytest.mark.usefixtures("shop")
def test_injected_latency_slows_a_lazy_load(django_assert_num_queries):
    """order.customer inside inject_query_latency(0.05) is one ~50 ms query."""
    order = Order.objects.first()

    with django_assert_num_queries(1) as queries, inject_query_latency(0.05):
        _, elapsed_s = _timed(lambda: order.customer)

    assert slept_s(queries[0]["sql"]) == pytest.approx(0.05)
    assert elapsed_s >= 0.045


@pytest.mark.usefixtures("shop")
def test_lazy_load_has_no_delay_outside_the_block():
    """Without inject_query_latency() the lazy load's SQL carries no delay."""
    order = Order.objects.first()
    with inject_query_latency(0.05):
        pass

    with CaptureQueriesContext(connection) as queries:
        order.customer  # noqa: B018

    assert sleep_call() not in queries[0]["sql"]


def test_injected_latency_restores_the_outer_value():
    """Leaving a nested inject_query_latency() restores the enclosing delay."""

    def sql() -> str:
        return str(Customer._base_manager.all().query)

    with inject_query_latency(0.2):
        with inject_query_latency(0.0):
            assert sleep_call() not in sql()
        assert sleep_call() in sql()
    assert sleep_call() not in sql()


def test_injected_latency_is_not_seen_by_other_threads():
    """A thread started inside the block runs its lazy loads undelayed."""
    seen: list[str] = []

    def compile_in_thread() -> None:
        seen.append(str(Customer._base_manager.all().query))

    with inject_query_latency(0.2):
        thread = threading.Thread(target=compile_in_thread)
        thread.start()
        thread.join()

    assert sleep_call() not in seen[0]


def test_statement_timeout_stops_a_runaway_query():
    """The database stops the runaway query at about the deadline."""
    # The message is the database's own: SQLite's progress handler
    # interrupts, PostgreSQL cancels.
    message = {"sqlite": "interrupted", "postgresql": "statement timeout"}
    started = time.perf_counter()
    with pytest.raises(OperationalError, match=message[connection.vendor]):
        run_runaway_query(0.3)
    elapsed_s = time.perf_counter() - started

    assert 0.29 <= elapsed_s < 1.5


def test_statement_timeout_is_removed_after_the_block():
    """Queries after the block run freely, even past the old deadline."""
    with (
        pytest.raises(OperationalError),
        statement_timeout(0.05),
        connection.cursor() as cursor,
    ):
        cursor.execute(RUNAWAY_QUERY_SQL)
    time.sleep(0.1)

    with connection.cursor() as cursor:
        cursor.execute(BOUNDED_QUERY_SQL)
        assert cursor.fetchone() == (10000,)


def test_nested_statement_timeout_restores_the_outer_deadline():
    """A shorter inner timeout ends with its block; the outer one holds."""
    started = time.perf_counter()
    # The outer limit is 20 times the inner one, so that which of the two
    # stopped the inner query shows however slow the machine: 0.6 s left
    # a loaded one too little room (the inner query took 1.0 s).
    with statement_timeout(2.0):
        with (
            pytest.raises(OperationalError),
            statement_timeout(0.1),
            connection.cursor() as cursor,
        ):
            cursor.execute(RUNAWAY_QUERY_SQL)
        inner_s = time.perf_counter() - started
        with pytest.raises(OperationalError), connection.cursor() as cursor:
            cursor.execute(RUNAWAY_QUERY_SQL)
        outer_s = time.perf_counter() - started

    # Stopped by the outer limit instead, it would take 2 s.
    assert 0.09 <= inner_s < 1.0
    if connection.vendor == "postgresql":
        # PostgreSQL's statement_timeout limits each statement on its own,
        # so the second query gets the whole outer 2 s from its start.
        assert 1.99 <= outer_s - inner_s < 2.9
    else:
        # SQLite's is one deadline, 2 s after the outer block began.
        assert 1.99 <= outer_s < 2.9


@pytest.mark.parametrize("seconds", [0, -1.0, math.nan])
def test_statement_timeout_rejects_invalid_seconds(seconds):
    """statement_timeout() refuses a zero, negative or non-finite limit."""
    with pytest.raises(ValueError, match="seconds"), statement_timeout(seconds):
        pass


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("sliced", [False, True])
def test_delayed_refuses_a_combined_queryset_sliced_or_not(sliced):
    """A union() is refused as Django's filter() refuses it, sliced or not.

    Sliced, its delay was put where the compiled union never reads it: the
    query ran at once, undelayed, and nothing said so.
    """
    set_latency_scale(1.0)
    union = (
        Customer.objects.order_by()
        .filter(id__lt=3)
        .union(Customer.objects.order_by().filter(id__gt=5))
    )
    queryset = union[:3] if sliced else union

    with pytest.raises(NotSupportedError, match=r"union\(\)"):
        delayed(queryset, 0.2)
