"""Tests for perfprobe.subscriptions: listeners hear what the collector records."""

from __future__ import annotations

import logging

import pytest

from perfprobe.collector import Collector
from perfprobe.events import ErrorEvent, Event

from .report_factories import operation, query, request
from .test_collector import op_count


@pytest.fixture
def collector() -> Collector:
    """Return a fresh collector on the project's (default) settings."""
    return Collector()


def test_listeners_receive_every_event_in_order(collector: Collector) -> None:
    """Each recorded event reaches each listener, once, in recording order."""
    seen: list[Event] = []
    collector.add_listener(seen.append)
    op = operation("op", 0.1)
    sql = query("SELECT ?", 0.01)
    http = request("/r/", 503, 0.2)
    error = ErrorEvent(
        source="scenario", name="s", error_type="E", started_at=1.0, scope=None
    )

    collector.record_operation(op, None)
    collector.record_query(sql, None)
    collector.record_request(http, None)
    collector.record_error(error, None)
    collector.remove_listener(seen.append)
    collector.record_operation(operation("unseen", 0.1), None)

    assert seen == [op, sql, http, error]


def test_a_raising_listener_is_logged_not_raised(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing listener is logged; recording and later listeners go on."""
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    collector.add_listener(broken)
    collector.add_listener(seen.append)

    with caplog.at_level(logging.ERROR, logger="perfprobe.collector"):
        collector.record_operation(operation("op", 0.1), None)
        collector.record_operation(operation("op", 0.1), None)

    assert len(seen) == 2
    assert op_count(collector, "op") == 2
    # Logged once, not once per event.
    (record,) = [r for r in caplog.records if r.name == "perfprobe.collector"]
    assert record.getMessage().startswith("perfprobe event listener")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
