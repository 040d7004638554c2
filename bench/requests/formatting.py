"""Render the request benchmark's results as markdown (also printed as is)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .analysis import CollectorResult, Target, ViewResult
from .launches import Spread, TargetAcross, ViewAcross


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


def _spread_cells(spread: Spread, show: Callable[[float], str]) -> list[str]:
    """Return three cells: each launch's figure, the median, the range."""
    each = " / ".join(show(v) if v is not None else "—" for v in spread.values)
    if spread.median is None or spread.low is None or spread.high is None:
        return [each, "—", "—"]
    return [each, show(spread.median), f"{show(spread.low)} to {show(spread.high)}"]


def across_table(title: str, figures: Mapping[str, ViewAcross], per_query: bool) -> str:
    """Return one view's table over launches: a row per configuration."""
    unit = "µs/query" if per_query else "µs/req"
    headers = [
        "configuration",
        f"added {unit}, each launch",
        "median",
        "range",
        "share of baseline, each launch",
        "median",
        "range",
    ]
    with_collector = any(f.with_collector_ns is not None for f in figures.values())
    if with_collector:
        headers.append("added µs/query incl. collector: median (range), info")
    lines = _table_head("####", title, headers)
    for name, figure in figures.items():
        cells = [name, *_spread_cells(figure.added_ns, _us)]
        cells += _spread_cells(figure.ratio, lambda r: f"{r:.3f}")
        if with_collector:
            gc = figure.with_collector_ns
            if gc is None or gc.median is None:
                cells.append("")
            else:
                cells.append(f"{_us(gc.median)} ({_us(gc.low)} to {_us(gc.high)})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts_table(targets: Sequence[TargetAcross], launches: int) -> str:
    """Return the targets with each launch's figure, median, range, verdict."""
    lines = [
        "| target | each launch (✗ missed) | median | range | verdict |",
        "|---|---|---|---|---|",
    ]
    for target in targets:
        values = target.values
        each = " / ".join(target.launch_cell(i) for i in range(launches))
        if values.median is None:
            median, span = "—", "—"
        else:
            median = target.show(values.median)
            span = f"{target.show(values.low)} to {target.show(values.high)}"
        lines.append(
            f"| {target.description} | {each} | {median} | {span} | "
            f"**{target.verdict}** |"
        )
    return "\n".join(lines)


def launches_document(
    header: Sequence[str],
    views: Sequence[tuple[str, Mapping[str, ViewAcross], bool]],
    targets: Sequence[TargetAcross],
    launches: int,
    rule: str,
    notes: Sequence[str],
    paths: Sequence[str] = (),
) -> str:
    """Return the markdown section of a run of several launches.

    ``views`` holds (title, figures by configuration, per-query figures);
    ``paths`` the views' paths, for the heading.
    """
    heading = f"### Request benchmark, {launches} launches"
    if paths:
        heading += ": " + ", ".join(f"`{p}`" for p in paths)
    parts = [heading, "", *header, ""]
    for title, figures, per_query in views:
        parts += [across_table(title, figures, per_query), ""]
    parts += ["#### Targets over launches (perfprobe, default settings)", ""]
    parts += [rule, "", verdicts_table(targets, launches), ""]
    if notes:
        parts += ["#### Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
