"""Build the report's sections as plain rows of display strings for renderers.

Both renderers show the same tables; this module decides what each one holds
and formats every cell, so a renderer only styles and prints. Nothing here is
escaped or styled: HTML escaping stays in ``html.py`` and rich styling in
``terminal.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fmt import (
    format_bytes,
    format_counts,
    format_details,
    format_duration,
    format_evidence_value,
    format_mean_count,
    format_ms,
    plural,
    printable,
    shorten,
    shorten_sql,
)
from .fmt import printable_text as _str
from .header import Header, build_header
from .model import Report

#: Column headings whose values are numbers, right-aligned by both renderers.
NUMERIC_COLUMNS = frozenset(
    {
        "Count",
        "Duration",
        "Queries",
        "Query time",
        "Mean",
        "p50",
        "p95",
        "p99",
        "Max",
        "Total",
        "Queries/req",
        "Max/scope",
        "Scopes",
        "Time",
        "RSS",
        "Heap",
        "Heap delta",
        "Peak",
    }
)


@dataclass(frozen=True)
class Limits:
    """How much of the report one medium shows; ``None`` means no cut.

    ``sql_chars`` bounds query fingerprints, ``name_chars`` error-group names
    and ``detail_chars`` scenario details and error messages, all in
    characters; ``query_rows`` bounds how many query shapes are listed.
    """

    sql_chars: int
    name_chars: int | None
    detail_chars: int | None
    query_rows: int | None


#: A terminal line is short, so long text is cut and only the query shapes
#: that took the most time are listed.
TERMINAL_LIMITS = Limits(sql_chars=60, name_chars=60, detail_chars=96, query_rows=10)
#: A page wraps long cells and scrolls, so it keeps every row and all text
#: but SQL, which stays readable at two terminal lines' worth.
PAGE_LIMITS = Limits(sql_chars=120, name_chars=None, detail_chars=None, query_rows=None)


@dataclass(frozen=True)
class Section:
    """One report table: a title, column headings and rows of display strings.

    ``subtitle`` qualifies the title (how many rows are shown, say), ``notes``
    are sentences to show under the table, and ``status_column`` names the
    column whose cells are a scenario status (``ok`` or ``failed``), which a
    renderer may colour.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    subtitle: str = ""
    notes: tuple[str, ...] = ()
    status_column: str | None = None

    @property
    def numeric(self) -> frozenset[str]:
        """Return the headings of this section's columns that hold numbers."""
        return NUMERIC_COLUMNS.intersection(self.columns)


@dataclass(frozen=True)
class RecommendationItem:
    """One recommendation with its evidence already formatted as one line."""

    severity: str
    title: str
    rule_id: str
    evidence: str
    suggestion: str


@dataclass(frozen=True)
class ReportTables:
    """A whole report ready to print: only the sections that have rows."""

    header: Header
    sections: tuple[Section, ...]
    recommendations: tuple[RecommendationItem, ...]


def build_tables(report: Report, limits: Limits) -> ReportTables:
    """Return ``report`` as header, non-empty sections and recommendations."""
    data = report.to_dict()
    sections = (
        _scenarios(data["scenarios"], limits),
        _operations(data["operations"]),
        _endpoints(data["endpoints"]),
        _queries(data["queries"], limits),
        _n_plus_one(data["n_plus_one"]["aggregated"], limits),
        _memory(data["memory"]),
        _errors(data["errors"]["counts"], limits),
    )
    return ReportTables(
        header=build_header(data),
        sections=tuple(s for s in sections if s.rows),
        recommendations=tuple(_recommendation(r) for r in data["recommendations"]),
    )


def _rows(rows: list[list[Any]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(_str(cell) for cell in row) for row in rows)


def _scenarios(scenarios: list[dict[str, Any]], limits: Limits) -> Section:
    rows = []
    for s in scenarios:
        detail = format_details(s["details"], limits.detail_chars)
        if s["error"]:
            error = f"{s['error']['type']}: {s['error']['message']}"
            detail = shorten(error, limits.detail_chars)
        rows.append(
            [
                s["name"],
                s["status"],
                format_duration(s["duration_s"]),
                s["query_count"],
                format_ms(s["query_time_s"]),
                detail,
            ]
        )
    columns = ("Scenario", "Status", "Duration", "Queries", "Query time", "Details")
    return Section("Scenarios", columns, _rows(rows), status_column="Status")


def _operations(operations: list[dict[str, Any]]) -> Section:
    keys = ("mean", "p50", "p95", "p99", "max")
    rows = [
        [
            op["name"],
            op["stats"]["count"],
            *(format_ms(op["stats"][k]) for k in keys),
            format_counts(op["errors"]),
            "; ".join(f"{k}={','.join(v)}" for k, v in op.get("tags", {}).items())
            or "-",
        ]
        for op in operations
    ]
    columns = (
        "Operation",
        "Count",
        "Mean",
        "p50",
        "p95",
        "p99",
        "Max",
        "Errors",
        "Tags",
    )
    return Section("Operations", columns, _rows(rows))


def _endpoints(endpoints: list[dict[str, Any]]) -> Section:
    rows = []
    for ep in endpoints:
        stats, queries = ep["stats"] or {}, ep["query_counts"] or {}
        rows.append(
            [
                f"{ep['method']} {ep['route']}",
                ep["count"],
                format_ms(stats.get("p50")),
                format_ms(stats.get("p95")),
                format_counts(ep["statuses"]),
                format_mean_count(queries.get("mean", 0.0)),
                format_counts(ep["errors"]),
            ]
        )
    columns = ("Endpoint", "Count", "p50", "p95", "Statuses", "Queries/req", "Errors")
    return Section("Endpoints", columns, _rows(rows))


def _queries(queries: dict[str, Any], limits: Limits) -> Section:
    shapes = queries["by_fingerprint"]
    shown = shapes[: limits.query_rows]
    rows = []
    for q in shown:
        stats = q["stats"] or {}
        rows.append(
            [
                shorten_sql(q["fingerprint"], limits.sql_chars),
                q["count"],
                format_ms(stats.get("total")),
                format_ms(stats.get("p95")),
                format_ms(stats.get("max")),
                q["call_sites"][0]["call_site"] if q["call_sites"] else "-",
            ]
        )
    if len(shown) < len(shapes):
        counted = f"top {len(shown)} of {len(shapes)} shapes"
    else:
        counted = plural(len(shapes), "shape")
    subtitle = f"{counted}, {queries['slow_query_count']} slow"
    columns = ("Fingerprint", "Count", "Total", "p95", "Max", "Top call site")
    return Section("Queries", columns, _rows(rows), subtitle=subtitle)


def _n_plus_one(findings: list[dict[str, Any]], limits: Limits) -> Section:
    rows = [
        [
            f["call_site"] or "-",
            shorten_sql(f["fingerprint"], limits.sql_chars),
            f["max_count_per_scope"],
            f["scope_count"],
            format_ms(f["total_s"]),
        ]
        for f in findings
    ]
    columns = ("Call site", "Fingerprint", "Max/scope", "Scopes", "Time")
    return Section("N+1 patterns", columns, _rows(rows))


def _memory(memory: dict[str, Any]) -> Section:
    rows = [
        [
            r["label"],
            r["kind"],
            format_bytes(r["rss_bytes"]),
            format_bytes(r["heap_current_bytes"]),
            format_bytes(r["heap_delta_bytes"]),
            format_bytes(r["peak_above_start_bytes"]),
            r["attribution"],
        ]
        for r in memory["records"]
    ]
    # A checkpoint has only "now" figures; a block also has its delta and the
    # peak above its start.
    columns = ("Label", "Kind", "RSS", "Heap", "Heap delta", "Peak", "Attribution")
    notes = (_str(memory["note"]),) if memory["note"] else ()
    return Section("Memory", columns, _rows(rows), notes=notes)


def _errors(counts: list[dict[str, Any]], limits: Limits) -> Section:
    rows = [
        [
            c["source"],
            shorten(c["name"], limits.name_chars),
            c["error_type"],
            c["count"],
        ]
        for c in counts
    ]
    return Section("Errors", ("Source", "Name", "Type", "Count"), _rows(rows))


def _recommendation(rec: dict[str, Any]) -> RecommendationItem:
    fields = dict(rec["evidence"])
    # A failed query's name is its fingerprint: shown once is enough.
    if fields.get("name") is not None and fields.get("name") == fields.get(
        "fingerprint"
    ):
        del fields["name"]
    limit_s = fields.get("threshold_s")
    evidence = ", ".join(
        f"{key}: {format_evidence_value(key, value, limit_s=limit_s)}"
        for key, value in fields.items()
        if value is not None
    )
    return RecommendationItem(
        severity=_str(rec["severity"]),
        title=_str(rec["title"]),
        rule_id=_str(rec["rule_id"]),
        evidence=printable(evidence),
        suggestion=_str(rec["suggestion"]),
    )
