"""Render a ``Report`` as one self-contained, fully escaped HTML page."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from .fmt import (
    NUMERIC_COLUMNS,
    format_bytes,
    format_counts,
    format_details,
    format_duration,
    format_evidence_value,
    format_ms,
    plural,
    shorten,
)
from .model import Report

ENDPOINT_COLUMNS = (
    "Endpoint",
    "Count",
    "p50",
    "p95",
    "Statuses",
    "Queries/req",
    "Errors",
)

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d232a; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eaeef2; text-align: left;
  vertical-align: top; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f6f8fa; }
code { font: 12px ui-monospace, monospace; word-break: break-all; }
.note { color: #57606a; }
.critical { color: #b42318; } .warning { color: #9a6700; } .info { color: #0969da; }
.ok { color: #1a7f37; } .failed { color: #b42318; font-weight: bold; }
ol li { margin-bottom: .75rem; }
""".strip()


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(value: Any, right: bool, tag: str = "td") -> str:
    # Cells given as tuples are (text, css class); everything is escaped here,
    # in one place, so no caller can forget.
    text, css = value if isinstance(value, tuple) else (value, "")
    classes = " ".join(c for c in (css, "num" if right else "") if c)
    attribute = f' class="{_e(classes)}"' if classes else ""
    return f"<{tag}{attribute}>{_e(text)}</{tag}>"


def _table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[str]:
    numeric = [c in NUMERIC_COLUMNS for c in columns]

    def row_html(cells: Sequence[Any], tag: str = "td") -> str:
        pairs = zip(cells, numeric, strict=True)
        return "<tr>" + "".join(_cell(c, right, tag) for c, right in pairs) + "</tr>"

    body = [row_html(row) for row in rows]
    if not body:
        return []
    head = row_html(columns, "th")
    return [f"<h2>{_e(title)}</h2>", "<table>", head, *body, "</table>"]


def _header(data: dict[str, Any]) -> list[str]:
    env, conf, summary = data["environment"], data["settings"], data["summary"]
    notes = [
        conf["threshold_note"],
        conf["latency_note"],
        conf["percentile_note"],
    ]
    facts = (
        f"Generated {data['generated_at']} · Python {env['python']} · Django "
        f"{env['django']} · perfprobe {env['perfprobe']} · database "
        f"{env['database_vendor'] or 'unknown'}"
    )
    totals = (
        f"{plural(summary['operations'], 'operation')}, "
        f"{plural(summary['requests'], 'request')}, "
        f"{plural(summary['queries'], 'query')} "
        f"({format_duration(summary['query_time_s'])}), "
        f"{plural(summary['errors'], 'error')}"
    )
    return [
        f"<h1>{_e(data['title'])}</h1>",
        f'<p class="note">{_e(facts)}</p>',
        f"<p>{_e(totals)}</p>",
        *(f'<p class="note">{_e(n)}</p>' for n in notes if n),
    ]


def _scenarios(scenarios: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            s["name"],
            (s["status"], s["status"]),
            format_duration(s["duration_s"]),
            s["query_count"],
            format_ms(s["query_time_s"]),
            f"{s['error']['type']}: {s['error']['message']}"
            if s["error"]
            else format_details(s["details"], 400),
        ]
        for s in scenarios
    ]
    columns = ["Scenario", "Status", "Duration", "Queries", "Query time", "Details"]
    return _table("Scenarios", columns, rows)


def _operations(operations: list[dict[str, Any]]) -> list[str]:
    keys = ("mean", "p50", "p95", "p99", "max")
    rows = [
        [
            op["name"],
            op["stats"]["count"],
            *(format_ms(op["stats"][k]) for k in keys),
            format_counts(op["errors"]),
        ]
        for op in operations
    ]
    columns = ["Operation", "Count", "Mean", "p50", "p95", "p99", "Max", "Errors"]
    return _table("Operations", columns, rows)


def _endpoints(endpoints: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            f"{ep['method']} {ep['route']}",
            ep["count"],
            format_ms((ep["stats"] or {}).get("p50")),
            format_ms((ep["stats"] or {}).get("p95")),
            format_counts(ep["statuses"]),
            f"{(ep['query_counts'] or {}).get('mean', 0.0):.1f}",
            format_counts(ep["errors"]),
        ]
        for ep in endpoints
    ]
    return _table("Endpoints", ENDPOINT_COLUMNS, rows)


def _queries(queries: dict[str, Any]) -> list[str]:
    rows = [
        [
            shorten(q["fingerprint"], 120),
            q["count"],
            format_ms((q["stats"] or {}).get("total")),
            format_ms((q["stats"] or {}).get("p95")),
            format_ms((q["stats"] or {}).get("max")),
            q["call_sites"][0]["call_site"] if q["call_sites"] else "-",
        ]
        for q in queries["by_fingerprint"]
    ]
    columns = ["Fingerprint", "Count", "Total", "p95", "Max", "Top call site"]
    return _table("Queries", columns, rows)


def _n_plus_one(findings: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            f["call_site"] or "-",
            shorten(f["fingerprint"], 120),
            f["max_count_per_scope"],
            f["scope_count"],
            format_ms(f["total_s"]),
        ]
        for f in findings
    ]
    columns = ["Call site", "Fingerprint", "Max/scope", "Scopes", "Time"]
    return _table("N+1 patterns", columns, rows)


def _memory(memory: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["label"],
            r["kind"],
            format_bytes(r["rss_bytes"]),
            format_bytes(r["heap_delta_bytes"]),
            format_bytes(r["peak_above_start_bytes"]),
            r["attribution"],
        ]
        for r in memory["records"]
    ]
    columns = ["Label", "Kind", "RSS", "Heap delta", "Peak", "Attribution"]
    table = _table("Memory", columns, rows)
    return [*table, f'<p class="note">{_e(memory["note"])}</p>'] if table else []


def _errors(counts: list[dict[str, Any]]) -> list[str]:
    rows = [[c["source"], c["name"], c["error_type"], c["count"]] for c in counts]
    return _table("Errors", ["Source", "Name", "Type", "Count"], rows)


def _recommendations(recommendations: list[dict[str, Any]]) -> list[str]:
    parts = ["<h2>Recommendations</h2>"]
    if not recommendations:
        return [*parts, "<p>None: nothing crossed a threshold.</p>"]
    parts.append("<ol>")
    for rec in recommendations:
        evidence = ", ".join(
            f"{key}: {format_evidence_value(key, value)}"
            for key, value in rec["evidence"].items()
            if value is not None
        )
        severity = rec["severity"]
        parts.append(
            f'<li><strong class="{_e(severity)}">[{_e(severity.upper())}]</strong> '
            f"<strong>{_e(rec['title'])}</strong> "
            f'<span class="note">({_e(rec["rule_id"])})</span>'
            f"<br>Evidence: <code>{_e(evidence)}</code>"
            f"<br>Suggestion: {_e(rec['suggestion'])}</li>"
        )
    parts.append("</ol>")
    return parts


def render_html(report: Report) -> str:
    """Return ``report`` as a complete HTML document with inline CSS only.

    Every value taken from the report is escaped with ``html.escape``, so SQL,
    labels and messages cannot inject markup into the page.
    """
    data = report.to_dict()
    body = [
        *_header(data),
        *_scenarios(data["scenarios"]),
        *_operations(data["operations"]),
        *_endpoints(data["endpoints"]),
        *_queries(data["queries"]),
        *_n_plus_one(data["n_plus_one"]["aggregated"]),
        *_memory(data["memory"]),
        *_errors(data["errors"]["counts"]),
        *_recommendations(data["recommendations"]),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{_e(data['title'])}</title>",
            f"<style>\n{_CSS}\n</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
