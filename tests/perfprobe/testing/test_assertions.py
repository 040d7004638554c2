"""Tests for perfprobe.testing.assertions: budgets, messages, pass-through."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from apps.shop.models import Customer, Order, Product
from perfprobe.testing import (
    BudgetExceeded,
    NotRecording,
    assert_max_duration,
    assert_max_queries,
    assert_no_n_plus_one,
)

pytestmark = pytest.mark.django_db


def line_of(fragment: str) -> int:
    """Return the line of this file holding ``fragment``, counted by hand."""
    with open(__file__, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if line.endswith(fragment)]
    return number


def shown_ms(match: re.Match[str]) -> float:
    """Return the duration a failure message showed, as milliseconds.

    format_duration switches to seconds at one second, which a loaded
    machine may reach.
    """
    value = float(match.group(1).replace(",", ""))
    return value if match.group(2) == "ms" else value * 1000


def make_orders(count: int) -> None:
    """Create ``count`` more orders, each with a customer of its own."""
    first = Customer.objects.count()
    for i in range(first, first + count):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Order.objects.create(customer=customer)


def test_three_queries_pass_at_three_and_fail_at_two() -> None:
    """Three known queries fit a budget of three; two fails naming each one."""
    with assert_max_queries(3):
        Product.objects.count()
        Customer.objects.exists()
        list(Order.objects.all())

    with pytest.raises(BudgetExceeded) as caught:
        with assert_max_queries(2):
            Product.objects.count()  # known query A
            Customer.objects.exists()  # known query B
            list(Order.objects.all())  # known query C

    message = str(caught.value)
    assert message.startswith("3 queries ran in the block, over the limit of 2")
    shapes = {
        "A": 'SELECT COUNT(*) AS "__count" FROM "shop_product"',
        "B": 'SELECT ? AS "a" FROM "shop_customer" LIMIT ?',
        "C": 'SELECT "shop_order"."id", "shop_order"."customer_id"',
    }
    for name, shape in shapes.items():
        site = f"tests/perfprobe/testing/test_assertions.py:{line_of(f'query {name}')}"
        (line,) = [line for line in message.splitlines() if site in line]
        assert line.startswith(f"  1 x {shape}")


def test_zero_budget_fails_on_one_query_and_passes_on_none() -> None:
    """A budget of 0 allows no query at all."""
    with assert_max_queries(0):
        pass
    with pytest.raises(BudgetExceeded, match=r"^1 query ran in the block"):
        with assert_max_queries(0):
            Product.objects.count()


def test_more_than_twenty_shapes_are_summed_up_after_twenty_lines() -> None:
    """Twenty-five distinct statements list twenty and count the five others."""
    with pytest.raises(BudgetExceeded) as caught:
        with assert_max_queries(1), connection.cursor() as cursor:
            for i in range(25):
                cursor.execute(f"SELECT 1 AS column_{i}")

    lines = str(caught.value).splitlines()
    assert lines[0].startswith("25 queries ran in the block")
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "  ... and 5 more queries"


def test_an_n_plus_one_loop_names_the_model_field_and_fix() -> None:
    """Six lazy Order.customer loads fail the budget with the relation and fix."""
    make_orders(6)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_no_n_plus_one():
            for order in Order.objects.all():
                assert order.customer.name  # the lazy load
    message = str(caught.value)
    assert message.startswith("1 N+1 query pattern in the block")
    assert "6 x SELECT" in message and 'FROM "shop_customer"' in message
    site = f"test_assertions.py:{line_of('# the lazy load')}"
    assert f"{site} loading Order.customer" in message
    assert 'select_related("customer")' in message


def test_select_related_passes_the_n_plus_one_budget() -> None:
    """The same loop with select_related runs one query and passes."""
    make_orders(6)
    with assert_no_n_plus_one(min_queries=2) as capture:
        for order in Order.objects.select_related("customer"):
            assert order.customer.name
    assert capture.count == 1


def test_min_queries_defaults_to_the_setting() -> None:
    """With N_PLUS_ONE_MIN_QUERIES at 3, three lazy loads fail and two do not."""
    with override_settings(PERFPROBE={"N_PLUS_ONE_MIN_QUERIES": 3}):
        make_orders(2)
        with assert_no_n_plus_one():
            for order in Order.objects.all():
                assert order.customer.name
        make_orders(1)
        with pytest.raises(BudgetExceeded, match="3 or more queries"):
            with assert_no_n_plus_one():
                for order in Order.objects.all():
                    assert order.customer.name


def test_a_known_sleep_fails_a_shorter_duration_budget() -> None:
    """Sleeping 50 ms fails a 10 ms budget, naming both figures."""
    with pytest.raises(BudgetExceeded) as caught:
        with assert_max_duration(0.01) as budget:
            time.sleep(0.05)

    assert budget.duration_s is not None and budget.duration_s >= 0.05
    match = re.fullmatch(
        r"the block took ([\d.,]+) (ms|s), over the limit of 10\.0 ms \(perfprobe\)",
        str(caught.value),
    )
    assert match is not None
    assert shown_ms(match) >= 50


def test_a_block_well_within_the_duration_budget_passes() -> None:
    """An empty block is far below a minute."""
    with assert_max_duration(60) as budget:
        pass
    assert budget.duration_s is not None and budget.duration_s < 60


@pytest.mark.parametrize(
    "budget",
    [
        lambda: assert_max_queries(0),
        lambda: assert_no_n_plus_one(min_queries=2),
        lambda: assert_max_duration(0.001),
    ],
    ids=["queries", "n_plus_one", "duration"],
)
def test_the_users_exception_passes_through_unchanged(budget: Any) -> None:
    """An error leaving an over-budget block passes as the same object."""
    make_orders(2)
    error = KeyError("user's own")
    with pytest.raises(KeyError) as caught:
        with budget():
            for order in Order.objects.all():
                assert order.customer.name
            time.sleep(0.002)
            raise error
    assert caught.value is error


def test_nested_budgets_fail_at_the_inner_one_and_the_outer_passes_it_on() -> None:
    """The inner budget's failure leaves the outer block unchanged."""
    with pytest.raises(BudgetExceeded, match="over the limit of 1"):
        with assert_max_queries(10):
            Product.objects.count()
            with assert_max_queries(1):
                Product.objects.count()
                Product.objects.count()


def test_the_outer_budget_counts_the_inner_blocks_queries() -> None:
    """Two queries inside an inner block of budget 2 still count for the outer."""
    with pytest.raises(BudgetExceeded, match=r"^3 queries ran .* limit of 2"):
        with assert_max_queries(2):
            Product.objects.count()
            with assert_max_queries(2):
                Product.objects.count()
                Product.objects.count()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: assert_max_queries(-1), ValueError, "limit must be 0 or more, not -1"),
        (lambda: assert_max_queries(2.5), TypeError, "limit must be an integer"),
        (lambda: assert_max_queries(True), TypeError, "limit must be an integer"),
        (
            lambda: assert_no_n_plus_one(min_queries=1),
            ValueError,
            "min_queries must be 2 or more, not 1",
        ),
        (lambda: assert_max_duration(0), ValueError, "finite number above 0, not 0"),
        (
            lambda: assert_max_duration(float("nan")),
            ValueError,
            "finite number above 0, not nan",
        ),
        (lambda: assert_max_duration("1"), TypeError, "must be a number, not str"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(
    call: Any, error: type[Exception], message: str
) -> None:
    """A budget argument out of range raises at once, saying what is accepted."""
    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.parametrize("key", ["ENABLED", "INSTRUMENT_DATABASE"])
def test_query_budgets_refuse_to_run_while_nothing_is_recorded(key: str) -> None:
    """With recording off a query budget raises instead of passing unchecked."""
    with override_settings(PERFPROBE={key: False}):
        with pytest.raises(NotRecording, match=f"PERFPROBE\\['{key}'\\] is off"):
            with assert_max_queries(100):
                pass
        with pytest.raises(NotRecording, match="assert_no_n_plus_one cannot"):
            with assert_no_n_plus_one():
                pass
        with assert_max_duration(60):
            pass


def test_an_n_plus_one_message_names_the_queryset_line_as_the_report() -> None:
    """The fix names the line whose queryset loaded the rows, with no other example."""
    make_orders(6)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_no_n_plus_one():
            orders = list(Order.objects.all())  # the queryset
            for order in orders:
                assert order.customer.name  # the loads
    message = str(caught.value)
    here = "tests/perfprobe/testing/test_assertions.py"
    queryset, load = (f"{here}:{line_of(m)}" for m in ("# the queryset", "# the loads"))
    assert (
        f'Add select_related("customer") to the Order queryset at {queryset}, '
        f"whose rows are used at {load}"
    ) in message
    assert "e.g. item." not in message


def test_an_n_plus_one_message_names_the_line_building_the_queryset() -> None:
    """A loop over a queryset assigned on an earlier line: the fix names that line.

    The rows' query runs at the loop, where the queryset is first read; the
    select_related() goes where it is built.
    """
    make_orders(6)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_no_n_plus_one():
            orders = Order.objects.all()  # built here
            for order in orders:  # read here
                assert order.customer.name  # loaded here
    message = str(caught.value)
    here = "tests/perfprobe/testing/test_assertions.py"
    built, read, load = (
        f"{here}:{line_of(m)}" for m in ("# built here", "# read here", "# loaded here")
    )
    assert (
        'Add select_related("customer") to the Order queryset assigned to '
        f"orders at {built} (its query ran at {read}), whose rows are used at "
        f"{load}"
    ) in message


def test_an_n_plus_one_in_a_template_says_template(settings: Any) -> None:
    """A loop in a template rendered in the block is named as the report does."""
    from django.template.loader import render_to_string

    from tests.perfprobe import template_urls

    settings.TEMPLATES = template_urls.TEMPLATES_SETTING
    make_orders(6)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_no_n_plus_one():
            orders = Order.objects.order_by("pk")
            render_to_string("orders.html", {"orders": orders})  # the render
    message = str(caught.value)
    site = f"tests/perfprobe/testing/test_assertions.py:{line_of('# the render')}"
    assert f"  in the template rendered at {site} loading Order.customer" in message
    assert (
        f"The template rendered at {site} reads Order.customer once per Order "
        "row, inside a {% for %} loop (look for .customer there): add "
        'select_related("customer")'
    ) in message
