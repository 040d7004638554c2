"""Test that a slow timed block whose time is a slow query is one finding.

Real blocks run real queries that sleep a known time in the database
(``DatabaseDelay``: SQLite's ``perfprobe_sleep()``, PostgreSQL's
``pg_sleep()``), so which query ran inside which block, and for how long,
is known from outside the monitor.
"""

from __future__ import annotations

import re
import time

import pytest
from pytest_django import Settings

from apps.shop.latency import DatabaseDelay
from apps.shop.models import Product
from perfprobe.monitoring import PerformanceMonitor
from perfprobe.report.schema import validate_report

from .report_factories import by_rule

QUERY_SLEEP_S = 0.3
# The query is slow (over 0.1 s) and so is the block that runs it (0.2 s);
# only a sleep's overrun, never a shortfall, can move the figures.
LIMITS = {"SLOW_QUERY_SECONDS": 0.1, "SLOW_OPERATION_SECONDS": 0.2}


@pytest.fixture
def limits(settings: Settings, fresh_monitor: PerformanceMonitor) -> None:
    """Set slow-query and slow-operation limits under the injected sleeps."""
    settings.PERFPROBE = LIMITS
    fresh_monitor.reset()


def _slow_products() -> int:
    return len(list(Product.objects.filter(DatabaseDelay(QUERY_SLEEP_S))))


@pytest.mark.django_db
def test_a_block_whose_time_is_a_slow_query_is_left_to_the_query(
    fresh_monitor: PerformanceMonitor, limits: None
) -> None:
    """nightly_totals is all one slow query: one finding, naming both."""
    with fresh_monitor.measure_execution_time("nightly_totals"):
        _slow_products()
    report = fresh_monitor.generate_report().to_dict()

    assert by_rule(report, "slow-operation") == []
    (finding,) = by_rule(report, "slow-query")
    assert "test_rules_operation_queries.py:" in finding["title"]
    assert finding["title"].count("'nightly_totals'") == 1, finding["title"]
    assert finding["evidence"]["operations"] == ["nightly_totals"]
    found = re.search(
        r"It takes (\d+)% of operation 'nightly_totals''s time", finding["suggestion"]
    )
    assert found is not None, finding["suggestion"]
    assert int(found.group(1)) >= 90
    validate_report(report)


@pytest.mark.django_db
def test_a_block_partly_a_slow_query_names_it_with_its_share(
    fresh_monitor: PerformanceMonitor, limits: None
) -> None:
    """A quarter of rebuild is a slow query: both findings, the block's names it.

    The same query run beside the block, before and after it, is no part of
    its time.
    """
    _slow_products()
    with fresh_monitor.measure_execution_time("rebuild"):
        started = time.perf_counter()
        _slow_products()
        in_query_s = time.perf_counter() - started
        time.sleep(3 * QUERY_SLEEP_S)
    _slow_products()
    report = fresh_monitor.generate_report().to_dict()

    (operation,) = by_rule(report, "slow-operation")
    (query,) = by_rule(report, "slow-query")
    (op,) = report["operations"]
    share = 100 * in_query_s / op["stats"]["total"]
    found = re.search(
        r"(\d+)% of its time is the slow query at "
        r"tests/perfprobe/test_rules_operation_queries.py:\d+ "
        r"\(see the slow-query finding\)",
        operation["suggestion"],
    )
    assert found is not None, operation["suggestion"]
    assert share - 2 <= int(found.group(1)) <= share + 1
    assert 20 <= int(found.group(1)) < 50
    assert "read the slow-query findings first" not in operation["suggestion"]
    assert query["evidence"]["operations"] is None
    validate_report(report)


@pytest.mark.django_db
def test_a_block_beside_a_slow_query_keeps_todays_advice(
    fresh_monitor: PerformanceMonitor, limits: None
) -> None:
    """A slow block that ran no query, beside a slow query, is not linked to it."""
    _slow_products()
    with fresh_monitor.measure_execution_time("sleeper"):
        time.sleep(QUERY_SLEEP_S)
    report = fresh_monitor.generate_report().to_dict()

    (operation,) = by_rule(report, "slow-operation")
    (query,) = by_rule(report, "slow-query")
    assert "is the slow query" not in operation["suggestion"]
    assert operation["suggestion"].startswith(
        "If 'sleeper' runs queries, read the slow-query findings first"
    )
    assert query["evidence"]["operations"] is None
