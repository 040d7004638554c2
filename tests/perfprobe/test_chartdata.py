"""Test what the charts plot (``perfprobe.report.chartdata``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from perfprobe.report import ScenarioResult
from perfprobe.report.chartdata import (
    LATENCY_ROWS,
    QUERY_BARS,
    MemoryBlockSpan,
    MemoryPoint,
    QueryBar,
    ScenarioSpan,
    chart_data,
)

from .report_factories import (
    build,
    make_collector,
    n_plus_one_queries,
    query,
    request,
    run_scope,
)

T0 = 1_800_000_000.0
MB = 1024 * 1024


def _record(kind: str, started_at: float, **values: Any) -> dict[str, Any]:
    record = {
        "label": "r",
        "kind": kind,
        "started_at": started_at,
        "rss_bytes": 0,
        "heap_current_bytes": None,
        "rss_start_bytes": None,
        "heap_start_bytes": None,
        "peak_above_start_bytes": None,
        "duration_s": None,
    }
    record.update(values)
    return record


def _data(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "scenarios": [],
        "endpoints": [],
        "memory": {"records": []},
        "queries": {"by_fingerprint": []},
        "n_plus_one": {"aggregated": []},
    }
    data.update(sections)
    return data


def test_time_axes_start_at_the_earliest_scenario_or_memory_record() -> None:
    """A checkpoint taken before the first scenario moves the origin to itself."""
    scenarios = [
        {"name": "b", "status": "failed", "started_at": T0 + 3.0, "duration_s": 0.5},
        {"name": "a", "status": "ok", "started_at": T0 + 1.0, "duration_s": 1.25},
    ]
    records = [_record("checkpoint", T0, rss_bytes=5 * MB, heap_current_bytes=MB)]

    data = chart_data(_data(scenarios=scenarios, memory={"records": records}))

    assert data.origin == T0
    assert data.timeline == (
        ScenarioSpan("a", "ok", 1.0, 2.25),
        ScenarioSpan("b", "failed", 3.0, 3.5),
    )


def test_a_block_gives_its_start_and_end_and_its_heap_peak() -> None:
    """A closed block adds two points and a span at start heap plus peak above it."""
    records = [
        _record("checkpoint", T0 + 2.0, rss_bytes=30 * MB, heap_current_bytes=3 * MB),
        _record(
            "block",
            T0,
            rss_bytes=20 * MB,
            heap_current_bytes=2 * MB,
            rss_start_bytes=10 * MB,
            heap_start_bytes=MB,
            peak_above_start_bytes=7 * MB,
            duration_s=1.5,
        ),
        # Still open: only its start is known, and it has no span yet.
        _record("block", T0 + 4.0, rss_start_bytes=40 * MB, heap_start_bytes=4 * MB),
    ]

    data = chart_data(_data(memory={"records": records}))

    assert data.memory_points == (
        MemoryPoint(0.0, 10 * MB, MB),
        MemoryPoint(1.5, 20 * MB, 2 * MB),
        MemoryPoint(2.0, 30 * MB, 3 * MB),
        MemoryPoint(4.0, 40 * MB, 4 * MB),
    )
    assert data.memory_blocks == (MemoryBlockSpan("r", 0.0, 1.5, 8 * MB),)


def test_query_bars_split_n_plus_one_time_from_the_rest() -> None:
    """A shape's N+1 groups from two call sites add up; other shapes have none."""
    shapes = [
        {"fingerprint": "SELECT a", "count": 12, "stats": {"total": 0.5}},
        {"fingerprint": "SELECT b", "count": 1, "stats": {"total": 0.25}},
    ]
    groups = [
        {"fingerprint": "SELECT a", "total_s": 0.125},
        {"fingerprint": "SELECT a", "total_s": 0.25},
    ]

    data = chart_data(
        _data(queries={"by_fingerprint": shapes}, n_plus_one={"aggregated": groups})
    )

    assert data.queries == (
        QueryBar("SELECT a", 12, 0.375, 0.125),
        QueryBar("SELECT b", 1, 0.0, 0.25),
    )
    assert data.query_shapes == 2


def test_only_the_costliest_shapes_get_a_bar() -> None:
    """Shapes beyond ``QUERY_BARS`` stay in the table and are counted."""
    shapes = [
        {"fingerprint": f"SELECT {i}", "count": 1, "stats": {"total": 1.0 / (i + 1)}}
        for i in range(QUERY_BARS + 3)
    ]

    data = chart_data(_data(queries={"by_fingerprint": shapes}))

    assert [b.label for b in data.queries] == [f"SELECT {i}" for i in range(12)]
    assert data.query_shapes == QUERY_BARS + 3


def test_query_labels_keep_the_end_that_tells_two_shapes_apart() -> None:
    """A long column list is elided first, as in the Queries table.

    Cut at the width, a plain query and its ``select_related`` join (the
    same columns first) both read ``SELECT "shop_order"."id", ...`` on the
    chart: two bars with one label.
    """
    columns = ", ".join(f'"shop_order"."c{i}"' for i in range(8))
    plain = f'SELECT {columns} FROM "shop_order"'
    joined = (
        f'SELECT {columns}, "shop_customer"."id" FROM "shop_order" INNER JOIN '
        '"shop_customer" ON ("shop_order"."customer_id" = "shop_customer"."id")'
    )
    shapes = [
        {"fingerprint": plain, "count": 2, "stats": {"total": 0.5}},
        {"fingerprint": joined, "count": 2, "stats": {"total": 0.25}},
    ]

    data = chart_data(_data(queries={"by_fingerprint": shapes}))

    assert [b.label for b in data.queries] == [
        'SELECT … FROM "shop_order"',
        'SELECT … FROM "shop_order" INNER JOIN "shop_customer" ON ("shop…',
    ]


def test_labels_lose_control_characters_and_length() -> None:
    """A label is made printable and cut to one axis line with an ellipsis."""
    name = "\x1b[31m" + "x" * 100
    scenarios = [{"name": name, "status": "ok", "started_at": T0, "duration_s": 1.0}]

    (span,) = chart_data(_data(scenarios=scenarios)).timeline

    assert span.label.startswith("\\x1b[31mxxx")
    assert span.label.endswith("…")
    assert len(span.label) == 28


def test_an_empty_report_has_nothing_to_plot() -> None:
    """Without scenarios, requests, memory or queries every series is empty."""
    report = build(make_collector())

    data = chart_data(report.to_dict())

    assert data.origin is None
    assert data.latency == data.timeline == data.queries == ()
    assert data.memory_points == data.memory_blocks == ()


def test_a_built_report_gives_endpoint_percentiles_and_n_plus_one_time() -> None:
    """Through the real builder: hand-known durations come out in each series."""
    collector = make_collector()
    for duration_s in (0.01, 0.02, 0.03, 0.04, 0.1):
        collector.record_request(request("/api/x/", 200, duration_s), None)
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    collector.record_query(query("SELECT 1", 0.5), None)
    scenario = ScenarioResult("s", "", "ok", duration_s=2.0, started_at=T0)

    report = build(collector, scenarios=[scenario])
    # Through JSON, as an old report read back from a file would come.
    data = chart_data(json.loads(report.to_json()))

    (row,) = data.latency
    assert (row.label, row.count) == ("GET /api/x/", 5)
    assert (row.min_s, row.max_s) == (0.01, 0.1)
    # Inclusive linear interpolation over five samples: p50 is the middle one
    # and p95 lies 80% of the way from 0.04 to 0.1.
    assert row.p50_s == pytest.approx(0.03)
    assert row.p95_s == pytest.approx(0.088)
    first, second = data.queries
    assert (first.label, first.n_plus_one_s, first.other_s) == ("SELECT 1", 0.0, 0.5)
    assert second.count == 6
    assert second.n_plus_one_s == pytest.approx(0.012)
    assert second.other_s == pytest.approx(0.0)
    assert data.timeline == (ScenarioSpan("s", "ok", 0.0, 2.0),)


def test_only_the_costliest_endpoints_get_a_row() -> None:
    """Endpoints beyond ``LATENCY_ROWS`` stay in the table and are counted."""
    stats = {"count": 1, "min": 0.1, "p50": 0.1, "p95": 0.1, "p99": 0.1, "max": 0.1}
    endpoints = [
        {"method": "GET", "route": f"/e{i}/", "stats": stats}
        for i in range(LATENCY_ROWS + 2)
    ]
    # An endpoint whose every request went unsampled has no stats to draw.
    endpoints.insert(0, {"method": "GET", "route": "/none/", "stats": None})

    data = chart_data(_data(endpoints=endpoints))

    assert [r.label for r in data.latency] == [
        f"GET /e{i}/" for i in range(LATENCY_ROWS)
    ]
    assert data.endpoints == LATENCY_ROWS + 2


def test_a_lone_surrogate_in_a_label_is_shown_escaped() -> None:
    """A name no font can lay out becomes its backslash escape."""
    scenarios = [
        {"name": "job \udc80", "status": "ok", "started_at": T0, "duration_s": 1.0}
    ]

    (span,) = chart_data(_data(scenarios=scenarios)).timeline

    assert span.label == "job \\udc80"
