"""Render the request benchmark's results as markdown (also printed as is)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .analysis import CollectorResult, Target, ViewResult


def _table_head(marker: str, title: str, headers: list[str]) -> list[str]:
    """Return a titled markdown table's first lines: heading, header, rule."""
    return [
        f"{marker} {title}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]


def _us(ns: float) -> str:
    return f"{ns / 1000:+.1f}" if abs(ns) < 100_000 else f"{ns / 1000:+.0f}"


def view_table(
    title: str,
    results: Mapping[str, ViewResult],
    recorded: Mapping[str, str],
    per_query: bool,
) -> str:
    """Return one view's table: a row per configuration, baseline first."""
    headers = [
        "configuration",
        "req/s (median ±spread)",
        "share of baseline",
        "added µs/req",
    ]
    if per_query:
        headers.append("added µs/query")
    headers.append("recorded")
    lines = _table_head("####", title, headers)
    for name, result in results.items():
        cells = [
            name,
            f"{result.requests_per_s:,.0f} ±{result.requests_per_s_spread * 100:.0f}%",
            f"{result.ratio:.3f} ±{result.ratio_spread * 100:.0f}%",
            _us(result.added_ns),
        ]
        if per_query:
            cells.append(
                _us(result.added_ns_per_query)
                if result.added_ns_per_query is not None
                else ""
            )
        cells.append(recorded.get(name, ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def collector_table(
    title: str, results: Mapping[str, CollectorResult], per_query: bool
) -> str:
    """Return one view's collector table: a row per configuration."""
    headers = [
        "configuration",
        "requests (warm-up)",
        "collector µs/req",
        "gen 0 /req",
        "gen 1 /req",
        "gen 2 /req",
    ]
    if per_query:
        headers.append("added µs/query incl. collector")
    lines = _table_head("#####", title, headers)
    for name, result in results.items():
        cells = [
            name,
            f"{result.requests:,} ({result.warmup:,})",
            f"{result.ns_per_request / 1000:.1f}",
            *(f"{count:.3g}" for count in result.per_request),
        ]
        if per_query:
            cells.append(
                _us(result.added_ns_per_query)
                if result.added_ns_per_query is not None
                else ""
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def collector_section(
    intro: Sequence[str],
    views: Sequence[tuple[str, Mapping[str, CollectorResult], bool]],
) -> list[str]:
    """Return the collector subsection's lines: heading, text, one table a view."""
    parts = [
        "#### Cyclic garbage collector (separate steady-state measurement, info)",
        "",
        *intro,
        "",
    ]
    for title, results, per_query in views:
        if results:
            parts += [collector_table(title, results, per_query), ""]
    return parts


def targets_table(targets: Sequence[Target]) -> str:
    """Return the targets with their measured figures and PASS or MISS."""
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {t.description} | {t.measured} | {t.verdict} |" for t in targets]
    return "\n".join(lines)


def document(
    header: Sequence[str],
    views: Sequence[tuple[str, Mapping[str, ViewResult], bool]],
    recorded: Mapping[str, str],
    proofs: Mapping[str, str],
    targets: Sequence[Target],
    notes: Sequence[str],
    collector: Sequence[str] = (),
) -> str:
    """Return the whole markdown section: header lines, tables, proofs, notes.

    ``views`` holds (title, results by configuration, show per-query cost);
    ``recorded`` a short yes/no per configuration for the tables and
    ``proofs`` the full evidence each configuration gave; ``collector``
    the lines of the collector subsection (``collector_section``), if any.
    """
    parts = ["### Request benchmark", "", *header, ""]
    for title, results, per_query in views:
        parts += [view_table(title, results, recorded, per_query), ""]
    parts += collector
    parts += ["#### What each configuration recorded", ""]
    parts += [f"- `{name}`: {text}" for name, text in proofs.items()]
    parts += ["", "#### Targets (perfprobe, default settings)", ""]
    parts += [targets_table(targets), ""]
    if notes:
        parts += ["#### Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
