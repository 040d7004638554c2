"""Make hand-built events, fresh collectors and reports for the report tests."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from perfprobe.aggregates import ScopeSummary
from perfprobe.collector import Collector
from perfprobe.conf import PerfprobeSettings
from perfprobe.events import (
    LazyLoad,
    MemoryRecord,
    OperationEvent,
    QueryEvent,
    RequestEvent,
)
from perfprobe.report import Recommendation, Report, ReportBuilder
from perfprobe.requestlog import RawRequest
from perfprobe.scope import Scope

STARTED_AT = 1_700_000_000.0
SITE = "apps/shop/views.py:42"
_clock = itertools.count()


def make_settings(**overrides: Any) -> PerfprobeSettings:
    """Return the default settings with ``overrides`` applied."""
    return dataclasses.replace(PerfprobeSettings(), **overrides)


def make_collector(**overrides: Any) -> Collector:
    """Return a fresh collector whose settings ignore Django's."""
    conf = make_settings(**overrides)
    return Collector(settings=lambda: conf)


def _now() -> float:
    return STARTED_AT + next(_clock)


def operation(
    name: str, duration_s: float, *, error_type: str | None = None
) -> OperationEvent:
    """Return an operation event outside any scope."""
    return OperationEvent(
        name=name,
        duration_s=duration_s,
        started_at=_now(),
        thread_id=1,
        thread_name="MainThread",
        scope=None,
        error_type=error_type,
    )


def query(
    fingerprint: str,
    duration_s: float,
    *,
    sql: str | None = None,
    call_site: str | None = SITE,
    params_hash: int = 0,
    vendor: str = "sqlite",
    error_type: str | None = None,
    lazy_load: LazyLoad | None = None,
    scope: str | None = None,
) -> QueryEvent:
    """Return a query event; ``sql`` defaults to the fingerprint."""
    return QueryEvent(
        alias="default",
        vendor=vendor,
        sql=sql if sql is not None else fingerprint,
        fingerprint=fingerprint,
        duration_s=duration_s,
        started_at=_now(),
        thread_id=1,
        scope=scope,
        call_site=call_site,
        error_type=error_type,
        params_hash=params_hash,
        lazy_load=lazy_load,
    )


def request(
    route: str,
    status: int,
    duration_s: float,
    *,
    method: str = "GET",
    query_count: int = 0,
    query_time_s: float = 0.0,
    error_type: str | None = None,
) -> RequestEvent:
    """Return a request event outside any scope."""
    return RequestEvent(
        method=method,
        route=route,
        status=status,
        duration_s=duration_s,
        started_at=_now(),
        thread_id=1,
        query_count=query_count,
        query_time_s=query_time_s,
        scope=None,
        error_type=error_type,
    )


def raw_request(
    scope: Scope,
    route: str = "/items/",
    status: int = 200,
    duration_s: float = 0.25,
    started_at: float = 1_000.0,
    thread_id: int = 7,
    query_string: str | None = None,
) -> RawRequest:
    """Return the tuple the middleware hands ``request_ended`` for a GET of ``route``.

    No error; the scope's id, name and start as its last three fields.
    """
    return (
        ("GET", route),
        status,
        duration_s,
        started_at,
        thread_id,
        query_string,
        None,
        None,
        scope.id,
        scope.name,
        scope.started_at,
    )


def memory_block(
    label: str, peak_above_start_bytes: int, *, heap_delta_bytes: int = 0
) -> MemoryRecord:
    """Return a closed memory block that started with 10 MB on the heap."""
    start = 10 * 1024 * 1024
    return MemoryRecord(
        label=label,
        kind="block",
        started_at=_now(),
        thread_id=1,
        thread_name="MainThread",
        scope=None,
        rss_bytes=200 * 1024 * 1024,
        heap_current_bytes=start + heap_delta_bytes,
        heap_peak_bytes=start + peak_above_start_bytes,
        rss_start_bytes=190 * 1024 * 1024,
        heap_start_bytes=start,
        rss_delta_bytes=10 * 1024 * 1024,
        heap_delta_bytes=heap_delta_bytes,
        peak_above_start_bytes=peak_above_start_bytes,
        duration_s=0.5,
    )


def checkpoint(label: str, heap_bytes: int) -> MemoryRecord:
    """Return a memory checkpoint with ``heap_bytes`` on the heap."""
    return MemoryRecord(
        label=label,
        kind="checkpoint",
        started_at=_now(),
        thread_id=1,
        thread_name="MainThread",
        scope=None,
        rss_bytes=heap_bytes + 50 * 1024 * 1024,
        heap_current_bytes=heap_bytes,
        heap_peak_bytes=heap_bytes,
    )


def run_scope(
    collector: Collector, name: str, queries: list[QueryEvent]
) -> ScopeSummary:
    """Record ``queries`` inside a new scope called ``name`` and close it."""
    scope = Scope(name=name, kind="request")
    collector.scope_opened(scope)
    for event in queries:
        event.scope = scope.path
        collector.record_query(event, scope)
    summary = collector.scope_closed(scope, 0.25)
    assert summary is not None
    return summary


def n_plus_one_queries(
    count: int, *, lazy_load: LazyLoad | None = None, call_site: str = SITE
) -> list[QueryEvent]:
    """Return ``count`` queries of one shape and site with differing parameters."""
    fingerprint = 'SELECT * FROM "shop_customer" WHERE "id" = ?'
    return [
        query(
            fingerprint,
            0.002,
            params_hash=i,
            lazy_load=lazy_load,
            call_site=call_site,
        )
        for i in range(count)
    ]


def build(collector: Collector, **options: Any) -> Report:
    """Return the report of ``collector`` built with its own settings."""
    return ReportBuilder(
        collector.snapshot(), settings=collector.settings, **options
    ).build()


def fired(collector: Collector, rule_id: str) -> list[Recommendation]:
    """Return the recommendations of ``rule_id`` in ``collector``'s report."""
    return build(collector).recommendations_by_rule(rule_id)


def by_rule(report: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    """Return the recommendations of ``rule_id`` in a report's JSON data."""
    return [r for r in report["recommendations"] if r["rule_id"] == rule_id]


def orders_report() -> Report:
    """Return the report of 3 GET /orders/ of 50 ms, each 1 query and an N+1 of 6.

    21 queries in all: 3 list queries of 1 ms and 18 lazy loads of 2 ms.
    """
    collector = make_collector()
    for _ in range(3):
        events = [query('SELECT * FROM "shop_order"', 0.001), *n_plus_one_queries(6)]
        run_scope(collector, "GET /orders/", events)
        collector.record_request(
            request("/orders/", 200, 0.05, query_count=len(events)), None
        )
    return build(collector)
