"""Pick the series the HTML report's charts plot out of report data.

Plain data in, plain data out, with no plotting library: ``charts.py`` draws
what this module selects, so what a chart shows can be tested without
matplotlib. Labels are made printable and shortened here; escaping stays
with the renderer. Times on the time axes are seconds since ``origin``, the
earliest scenario start or memory record, so the timeline and the memory
chart share one axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fmt import printable, shorten, shorten_sql

#: Query shapes drawn in the breakdown; the rest stay in the Queries table.
QUERY_BARS = 12
#: Endpoints drawn in the latency chart; the rest stay in the Endpoints table.
LATENCY_ROWS = 20
#: Characters of a fingerprint shown as a bar's label.
QUERY_LABEL_CHARS = 64
#: Characters of an endpoint or memory label on an axis.
NAME_CHARS = 48
#: Characters of a scenario name, in the timeline's fixed left margin.
SCENARIO_CHARS = 28


@dataclass(frozen=True)
class LatencyRow:
    """One endpoint's request durations in seconds, from its summary."""

    label: str
    count: int
    min_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float


@dataclass(frozen=True)
class ScenarioSpan:
    """One scenario on the time axis: start and end in seconds since origin."""

    label: str
    status: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class MemoryPoint:
    """The process's RSS and heap (bytes) at one moment a record was taken."""

    at_s: float
    rss_bytes: int
    heap_bytes: int | None


@dataclass(frozen=True)
class MemoryBlockSpan:
    """A ``track_memory_usage`` block: its time span and highest heap in bytes.

    ``heap_peak_bytes`` is the heap at the block's start plus the peak above
    it: reached at some moment inside the span, which one is not recorded.
    """

    label: str
    start_s: float
    end_s: float
    heap_peak_bytes: int | None


@dataclass(frozen=True)
class QueryBar:
    """One query shape's total time, split into N+1 groups and the rest."""

    label: str
    count: int
    n_plus_one_s: float
    other_s: float


@dataclass(frozen=True)
class ChartData:
    """Everything the charts draw; empty tuples where the report has no data.

    ``origin`` is the epoch time (seconds) that the time axes start from, or
    ``None`` when nothing in the report has a time. ``query_shapes`` counts
    every shape, of which ``queries`` holds the costliest, and ``endpoints``
    every endpoint with timed requests, of which ``latency`` holds the
    costliest.
    """

    origin: float | None
    latency: tuple[LatencyRow, ...]
    timeline: tuple[ScenarioSpan, ...]
    memory_points: tuple[MemoryPoint, ...]
    memory_blocks: tuple[MemoryBlockSpan, ...]
    queries: tuple[QueryBar, ...]
    query_shapes: int
    endpoints: int = 0


def _name(value: Any, width: int = NAME_CHARS, *, sql: bool = False) -> str:
    text = printable("" if value is None else str(value))
    # A lone surrogate (a file name decoded with surrogateescape) is no
    # character a font can lay out; it is shown as its escape instead.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    # A query keeps its end (table, joins, WHERE), as in the Queries table:
    # cut after its column list, two shapes could share one label.
    return shorten_sql(text, width) if sql else shorten(text, width)


def _origin(data: dict[str, Any]) -> float | None:
    starts = [s["started_at"] for s in data["scenarios"]]
    starts += [r["started_at"] for r in data["memory"]["records"]]
    return min(starts) if starts else None


def latency_rows(endpoints: list[dict[str, Any]]) -> tuple[LatencyRow, ...]:
    """Return the first ``LATENCY_ROWS`` endpoints with timed requests.

    The report lists endpoints by total time, so these took the most.
    """
    rows: list[LatencyRow] = []
    for ep in endpoints:
        if len(rows) == LATENCY_ROWS:
            break
        stats = ep["stats"]
        if not stats:
            continue
        rows.append(
            LatencyRow(
                label=_name(f"{ep['method']} {ep['route']}"),
                count=stats["count"],
                min_s=stats["min"],
                p50_s=stats["p50"],
                p95_s=stats["p95"],
                p99_s=stats["p99"],
                max_s=stats["max"],
            )
        )
    return tuple(rows)


def scenario_spans(
    scenarios: list[dict[str, Any]], origin: float
) -> tuple[ScenarioSpan, ...]:
    """Return each scenario's start and end relative to ``origin``, by start."""
    spans = [
        ScenarioSpan(
            label=_name(s["name"], SCENARIO_CHARS),
            status=s["status"],
            start_s=s["started_at"] - origin,
            end_s=s["started_at"] + s["duration_s"] - origin,
        )
        for s in scenarios
    ]
    return tuple(sorted(spans, key=lambda s: s.start_s))


def memory_points(
    records: list[dict[str, Any]], origin: float
) -> tuple[MemoryPoint, ...]:
    """Return every moment a memory figure was read, in time order.

    A checkpoint gives one point; a block gives its start and, once closed,
    its end. RSS and the tracemalloc heap are process-wide, so points from
    different threads belong on one line.
    """
    points = []
    for r in records:
        start = r["started_at"] - origin
        if r["kind"] == "checkpoint":
            points.append(MemoryPoint(start, r["rss_bytes"], r["heap_current_bytes"]))
            continue
        if r["rss_start_bytes"] is not None:
            points.append(
                MemoryPoint(start, r["rss_start_bytes"], r["heap_start_bytes"])
            )
        if r["duration_s"] is not None:
            end = start + r["duration_s"]
            points.append(MemoryPoint(end, r["rss_bytes"], r["heap_current_bytes"]))
    return tuple(sorted(points, key=lambda p: p.at_s))


def memory_blocks(
    records: list[dict[str, Any]], origin: float
) -> tuple[MemoryBlockSpan, ...]:
    """Return the closed memory blocks with their heap peak, by start."""
    blocks = []
    for r in records:
        if r["kind"] != "block" or r["duration_s"] is None:
            continue
        start = r["started_at"] - origin
        peak = None
        if (
            r["heap_start_bytes"] is not None
            and r["peak_above_start_bytes"] is not None
        ):
            peak = r["heap_start_bytes"] + r["peak_above_start_bytes"]
        blocks.append(
            MemoryBlockSpan(_name(r["label"]), start, start + r["duration_s"], peak)
        )
    return tuple(sorted(blocks, key=lambda b: b.start_s))


def query_bars(
    queries: dict[str, Any], n_plus_one: list[dict[str, Any]]
) -> tuple[QueryBar, ...]:
    """Return the ``QUERY_BARS`` shapes with the most time, N+1 time split out.

    An N+1 group is one shape from one call site, so a shape's N+1 time is
    the sum over its groups; the rest of its time is everything else.
    """
    in_groups: dict[str, float] = {}
    for group in n_plus_one:
        fingerprint = group["fingerprint"]
        in_groups[fingerprint] = in_groups.get(fingerprint, 0.0) + group["total_s"]
    bars = []
    for shape in queries["by_fingerprint"][:QUERY_BARS]:
        total = shape["stats"]["total"] if shape["stats"] else 0.0
        # Clamped: both add up the same durations, in a different order, so
        # the group sum can exceed the shape's total in the last bits.
        grouped = min(in_groups.get(shape["fingerprint"], 0.0), total)
        bars.append(
            QueryBar(
                label=_name(shape["fingerprint"], QUERY_LABEL_CHARS, sql=True),
                count=shape["count"],
                n_plus_one_s=grouped,
                other_s=total - grouped,
            )
        )
    return tuple(bars)


def chart_data(data: dict[str, Any]) -> ChartData:
    """Return the chart series of report data (``Report.to_dict()`` or its JSON)."""
    origin = _origin(data)
    records = data["memory"]["records"]
    return ChartData(
        origin=origin,
        latency=latency_rows(data["endpoints"]),
        timeline=() if origin is None else scenario_spans(data["scenarios"], origin),
        memory_points=() if origin is None else memory_points(records, origin),
        memory_blocks=() if origin is None else memory_blocks(records, origin),
        queries=query_bars(data["queries"], data["n_plus_one"]["aggregated"]),
        query_shapes=len(data["queries"]["by_fingerprint"]),
        endpoints=sum(1 for ep in data["endpoints"] if ep["stats"]),
    )
