"""Build the report's header: title, run facts, thresholds and totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fmt import format_bytes, format_duration, format_operations, plural, printable
from .fmt import printable_text as _str


@dataclass(frozen=True)
class Header:
    """The lines above the tables: title, run facts, thresholds and totals."""

    title: str
    generated_at: str
    environment: tuple[str, ...]
    thresholds: str
    notes: tuple[str, ...]
    totals: str
    #: "17 recommendations: 2 critical, 15 warning", or "" when there are none.
    recommendation_counts: str = ""


def build_header(data: dict[str, Any]) -> Header:
    """Return the header of ``data``, a report's ``to_dict()``."""
    env, conf, summary = data["environment"], data["settings"], data["summary"]
    limits = conf["effective_thresholds"]
    thresholds = (
        f"Thresholds: slow operation {format_duration(limits['slow_operation_s'])}"
        f", slow query {format_duration(limits['slow_query_s'])}, high memory "
        f"{format_bytes(limits['high_memory_bytes'])}. "
        f"{_str(conf['threshold_note'])}"
    )
    totals = (
        f"{format_operations(summary['operations'], summary.get('operation_names'))}, "
        f"{plural(summary['requests'], 'request')}, "
        f"{plural(summary['queries'], 'query')} "
        f"({format_duration(summary['query_time_s'])}"
        f"{_outside_scopes(summary)}), "
        f"{plural(summary['errors'], 'error')}."
    )
    # Escaped like the tables' cells: a saved report read back
    # (perfprobe_report) brings these from a file.
    return Header(
        title=_str(data["title"]),
        generated_at=_str(data["generated_at"]),
        environment=(
            f"Python {_str(env['python'])}",
            f"Django {_str(env['django'])}",
            f"perfprobe {_str(env['perfprobe'])}",
            f"database {_str(env['database_vendor']) or 'unknown'}",
            # Only a seeded run (the demo) has one; older reports lack the key.
            *((f"seed {_str(conf['seed'])}",) if conf.get("seed") is not None else ()),
        ),
        thresholds=thresholds,
        notes=tuple(
            _str(n)
            for n in (
                conf["latency_note"],
                conf["percentile_note"],
                # Absent from reports written before sampling existed.
                conf.get("sampling_note"),
                runs_note(data),
            )
            if n
        ),
        totals=totals,
        recommendation_counts=_recommendation_counts(summary["recommendations"]),
    )


def runs_note(data: dict[str, Any]) -> str | None:
    """Return the note that says which run of a ``--repeat`` report is shown.

    The demo's ``--repeat N`` keeps every run's figures in ``runs`` and the
    last run as the report itself, so its tables are one run of N; ``None``
    for a report of a single run.
    """
    runs = data.get("runs")
    if not isinstance(runs, list) or len(runs) < 2:
        return None
    final = runs[-1]
    last = isinstance(final, dict) and final.get("generated_at") == data["generated_at"]
    which = "the last run" if last else "one run"
    return (
        f"This report repeated its scenarios {len(runs)} times (the demo's "
        f"--repeat {len(runs)}): the tables below are {which} of {len(runs)}; "
        "perfprobe_compare compares all of them."
    )


def _outside_scopes(summary: dict[str, Any]) -> str:
    # Shown only when there are some: a request-only app has none, and the
    # figure matters where threads or background work ran unscoped queries.
    outside = summary["queries_outside_scopes"]
    return f", {outside} outside any scope" if outside else ""


def _recommendation_counts(by_severity: dict[str, Any]) -> str:
    # A report read back may hold keys a later writer added (the schema lets
    # it): counts are shown, anything else is not one.
    counts = {
        printable(str(severity)): n
        for severity, n in by_severity.items()
        if type(n) is int
    }
    total = sum(counts.values())
    if not total:
        return ""
    parts = [f"{n} {severity}" for severity, n in counts.items() if n]
    return f"{plural(total, 'recommendation')}: {', '.join(parts)}"
