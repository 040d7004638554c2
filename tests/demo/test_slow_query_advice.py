"""Test that each of the demo's slow queries gets advice of its own.

The ground truth is the demo's own queries: the revenue-per-category and
dashboard aggregates GROUP BY (a row per group), the others look rows up by
a primary key or a one-to-one column, each behind an injected delay.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command

from apps.debugging.performance_demo import PerformanceDemo
from perfprobe import monitor

SCENARIOS = ["database_operations", "api_requests", "concurrent_operations"]


# Named "report" so that tests/demo/conftest.py gives its users the database.
@pytest.fixture(scope="module")
def report(django_db_setup: None, django_db_blocker: Any) -> list[dict[str, Any]]:
    """Run the scenarios with slow queries once; return the slow-query findings."""
    with django_db_blocker.unblock():
        try:
            data = PerformanceDemo(time_scale=0.2).run(SCENARIOS).to_dict()
        finally:
            monitor.reset()
            call_command("flush", interactive=False, verbosity=0)
    return [r for r in data["recommendations"] if r["rule_id"] == "slow-query"]


def _without_query(text: str) -> str:
    """Return ``text`` without the statement and call site it shows."""
    return re.sub(r"'SELECT .*?' \(run at [^)]*\)|'SELECT .*?'", "<query>", text)


def test_each_slow_query_is_advised_on_its_own_columns(
    report: list[dict[str, Any]],
) -> None:
    """With the query and call site taken out, each advice names its columns.

    The columns are those its WHERE filters on (as ``Model.field`` when an
    index covers them, else ``table.column``), or it says there are none;
    no advice falls back on the columns "its WHERE, JOIN and ORDER BY use".
    """
    assert len(report) >= 4
    for finding in report:
        advice = _without_query(finding["suggestion"]).replace("Meta.indexes", "")
        assert "its WHERE, JOIN and ORDER BY" not in advice
        named = re.findall(r"\b(?:[A-Z]\w+\.\w+|shop_\w+\.\w+)", advice)
        assert named or "filters on no column" in advice, advice
        fingerprint = finding["evidence"]["fingerprint"]
        assert all(name.split(".")[1] in fingerprint for name in named), named


def test_the_demo_aggregates_are_not_told_to_paginate(
    report: list[dict[str, Any]],
) -> None:
    """GROUP BY queries (database.py, the dashboard) return a row per group."""
    grouped = [f for f in report if "GROUP BY" in f["evidence"]["fingerprint"]]

    assert len(grouped) >= 2
    for finding in grouped:
        assert "paginate" not in finding["suggestion"]
        assert "one row per group" in finding["suggestion"]
