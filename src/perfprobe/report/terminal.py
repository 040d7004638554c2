"""Render a ``Report`` as rich tables and a numbered recommendation list."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

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

#: Width used when the output is not a terminal (a file, a pipe, a test).
PLAIN_WIDTH = 120
SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
MAX_QUERY_ROWS = 10


def make_console(file: IO[str] | None = None, *, width: int = PLAIN_WIDTH) -> Console:
    """Return a console for ``file`` (stdout by default).

    A terminal gets colours and its own width; anything else gets plain text
    (no ANSI escapes, no emoji) at ``width`` columns so lines do not wrap at
    rich's 80-column fallback.
    """
    stream = file if file is not None else sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return Console(file=stream)
    return Console(
        file=stream,
        force_terminal=False,
        color_system=None,
        no_color=True,
        emoji=False,
        highlight=False,
        width=width,
    )


def _text(value: Any, style: str = "") -> Text:
    # Text never parses markup, so SQL like "[x]" or labels from user code
    # print as they are.
    return Text("" if value is None else str(value), style=style)


class TerminalRenderer:
    """Print a report to a rich ``Console``: tables first, then recommendations.

    When the console is not a terminal, output is plain text at
    ``PLAIN_WIDTH`` columns (or ``width`` when given), with ASCII table
    borders; otherwise rich's colours and the terminal's width are used.
    """

    def __init__(
        self, console: Console | None = None, *, width: int | None = None
    ) -> None:
        self.console = console if console is not None else make_console()
        terminal = self.console.is_terminal
        self.width = width if width is not None else (None if terminal else PLAIN_WIDTH)
        self.box = box.SIMPLE_HEAD if terminal else box.ASCII

    def render(self, report: Report) -> None:
        """Print every non-empty section of ``report``."""
        data = report.to_dict()
        self.header(data)
        self.scenarios(data["scenarios"])
        self.operations(data["operations"])
        self.endpoints(data["endpoints"])
        self.queries(data["queries"])
        self.n_plus_one(data["n_plus_one"]["aggregated"])
        self.memory(data["memory"])
        self.errors(data["errors"]["counts"])
        self.recommendations(data["recommendations"])

    # -- output helpers -----------------------------------------------------

    def _print(self, renderable: Any = "") -> None:
        if isinstance(renderable, str):
            renderable = Text(renderable)
        self.console.print(
            renderable, width=self.width, markup=False, emoji=False, highlight=False
        )

    def _table(
        self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        table = Table(
            title=Text(title), title_justify="left", box=self.box, expand=False
        )
        for column in columns:
            table.add_column(
                column, justify="right" if column in NUMERIC_COLUMNS else "left"
            )
        for row in rows:
            table.add_row(*(c if isinstance(c, Text) else _text(c) for c in row))
        self._print(table)

    # -- sections -------------------------------------------------------------

    def header(self, data: dict[str, Any]) -> None:
        """Print the title, environment, thresholds and headline counts."""
        env, conf, summary = data["environment"], data["settings"], data["summary"]
        limits = conf["effective_thresholds"]
        self._print(_text(data["title"], "bold"))
        self._print(
            f"Generated {data['generated_at']} - Python {env['python']}, Django "
            f"{env['django']}, perfprobe {env['perfprobe']}, database "
            f"{env['database_vendor'] or 'unknown'}"
        )
        self._print(
            f"Thresholds: slow operation {format_duration(limits['slow_operation_s'])}"
            f", slow query {format_duration(limits['slow_query_s'])}, high memory "
            f"{format_bytes(limits['high_memory_bytes'])}. {conf['threshold_note']}"
        )
        if conf["latency_note"]:
            self._print(conf["latency_note"])
        self._print(conf["percentile_note"])
        self._print(
            f"{plural(summary['operations'], 'operation')}, "
            f"{plural(summary['requests'], 'request')}, "
            f"{plural(summary['queries'], 'query')} "
            f"({format_duration(summary['query_time_s'])}), "
            f"{plural(summary['errors'], 'error')}."
        )

    def scenarios(self, scenarios: list[dict[str, Any]]) -> None:
        """Print one row per scenario: status, time, queries and key details."""
        if not scenarios:
            return
        rows = []
        for s in scenarios:
            status = _text(s["status"], "green" if s["status"] == "ok" else "bold red")
            detail = format_details(s["details"])
            if s["error"]:
                detail = shorten(f"{s['error']['type']}: {s['error']['message']}", 96)
            rows.append(
                [
                    s["name"],
                    status,
                    format_duration(s["duration_s"]),
                    s["query_count"],
                    format_ms(s["query_time_s"]),
                    detail,
                ]
            )
        columns = ["Scenario", "Status", "Duration", "Queries", "Query time", "Details"]
        self._table("Scenarios", columns, rows)

    def operations(self, operations: list[dict[str, Any]]) -> None:
        """Print per-operation counts and latencies in milliseconds."""
        if not operations:
            return
        rows = [
            [
                op["name"],
                op["stats"]["count"],
                *(format_ms(op["stats"][k]) for k in ("mean", "p50", "p95", "p99")),
                format_ms(op["stats"]["max"]),
                format_counts(op["errors"]),
            ]
            for op in operations
        ]
        columns = ["Operation", "Count", "Mean", "p50", "p95", "p99", "Max", "Errors"]
        self._table("Operations", columns, rows)

    def endpoints(self, endpoints: list[dict[str, Any]]) -> None:
        """Print per-route latencies, statuses and queries per request."""
        if not endpoints:
            return
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
                    f"{queries.get('mean', 0.0):.1f}",
                    format_counts(ep["errors"]),
                ]
            )
        self._table("Endpoints", ENDPOINT_COLUMNS, rows)

    def queries(self, queries: dict[str, Any]) -> None:
        """Print the query shapes that took the most time."""
        shapes = queries["by_fingerprint"][:MAX_QUERY_ROWS]
        if not shapes:
            return
        rows = []
        for q in shapes:
            stats = q["stats"] or {}
            site = q["call_sites"][0]["call_site"] if q["call_sites"] else "-"
            rows.append(
                [
                    shorten(q["fingerprint"], 60),
                    q["count"],
                    format_ms(stats.get("total")),
                    format_ms(stats.get("p95")),
                    format_ms(stats.get("max")),
                    site,
                ]
            )
        title = (
            f"Queries (top {len(shapes)} of {len(queries['by_fingerprint'])} shapes, "
            f"{queries['slow_query_count']} slow)"
        )
        columns = ["Fingerprint", "Count", "Total", "p95", "Max", "Top call site"]
        self._table(title, columns, rows)

    def n_plus_one(self, findings: list[dict[str, Any]]) -> None:
        """Print each N+1 pattern once, with how many scopes showed it."""
        if not findings:
            return
        rows = [
            [
                f["call_site"] or "-",
                shorten(f["fingerprint"], 60),
                f["max_count_per_scope"],
                f["scope_count"],
                format_ms(f["total_s"]),
            ]
            for f in findings
        ]
        columns = ["Call site", "Fingerprint", "Max/scope", "Scopes", "Time"]
        self._table("N+1 patterns", columns, rows)

    def memory(self, memory: dict[str, Any]) -> None:
        """Print memory checkpoints and blocks with their attribution."""
        if not memory["records"]:
            return
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
        # A checkpoint has only "now" figures; a block also has its delta and
        # the peak above its start.
        columns = ["Label", "Kind", "RSS", "Heap", "Heap delta", "Peak", "Attribution"]
        self._table("Memory", columns, rows)
        self._print(memory["note"])

    def errors(self, counts: list[dict[str, Any]]) -> None:
        """Print every error group with its count."""
        if not counts:
            return
        rows = [
            [c["source"], shorten(c["name"], 60), c["error_type"], c["count"]]
            for c in counts
        ]
        self._table("Errors", ["Source", "Name", "Type", "Count"], rows)

    def recommendations(self, recommendations: list[dict[str, Any]]) -> None:
        """Print the numbered recommendations, coloured by severity."""
        self._print()
        if not recommendations:
            self._print("Recommendations: none, nothing crossed a threshold.")
            return
        self._print(_text("Recommendations", "bold"))
        for number, rec in enumerate(recommendations, start=1):
            style = SEVERITY_STYLES.get(rec["severity"], "")
            line = Text(f"{number}. ")
            line.append(f"[{rec['severity'].upper()}] ", style=style)
            line.append(rec["title"], style="bold")
            line.append(f" ({rec['rule_id']})", style="dim")
            self._print(line)
            evidence = ", ".join(
                f"{key}: {format_evidence_value(key, value)}"
                for key, value in rec["evidence"].items()
                if value is not None
            )
            # Padding keeps wrapped continuation lines under their label.
            self._print(
                Padding(Text(f"Evidence: {evidence}"), (0, 0, 0, 3), expand=False)
            )
            self._print(
                Padding(
                    Text(f"Suggestion: {rec['suggestion']}"), (0, 0, 0, 3), expand=False
                )
            )
