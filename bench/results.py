"""Write bench/RESULTS.md: date, versions, machine and every results table."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .harness import Row

#: Distributions whose versions every results file names.
VERSIONED = (
    "Django",
    "django-perfprobe",
    "prometheus-client",
    "opentelemetry-sdk",
)

_HEADERS = ("benchmark", "baseline", "measured", "ratio", "detail", "target", "")


@dataclass(frozen=True)
class Section:
    """One titled table of rows, with optional prose above it."""

    title: str
    rows: tuple[Row, ...]
    note: str = ""


@dataclass(frozen=True)
class RunInfo:
    """What a results file says about the run: when, with what, on what."""

    date: str
    mode: str
    command: str
    elapsed_s: float
    versions: Mapping[str, str]
    machine: Mapping[str, str]
    extra_markdown: Sequence[str] = field(default_factory=tuple)


def _cell(text: str) -> str:
    # A pipe inside a cell would end it early in every markdown renderer.
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Row]) -> str:
    """Return ``rows`` as a GitHub markdown table, verdict last."""
    lines = [
        "| " + " | ".join(_HEADERS[:-1]) + " | verdict |",
        "|" + "---|" * len(_HEADERS),
    ]
    for r in rows:
        cells = (r.benchmark, r.baseline, r.measured, r.ratio, r.detail, r.target)
        lines.append("| " + " | ".join(_cell(c) for c in (*cells, r.verdict)) + " |")
    return "\n".join(lines)


def verdict_counts(rows: Iterable[Row]) -> tuple[int, int, int]:
    """Return how many rows passed, missed and were info only."""
    passed = missed = info = 0
    for row in rows:
        if row.passed is None:
            info += 1
        elif row.passed:
            passed += 1
        else:
            missed += 1
    return passed, missed, info


def render_results(info: RunInfo, sections: Sequence[Section]) -> str:
    """Return the whole RESULTS.md text for one run."""
    all_rows = [row for section in sections for row in section.rows]
    passed, missed, informational = verdict_counts(all_rows)
    out = [
        "# Benchmark results",
        "",
        "Rewritten by `make bench` / `python bench/run_all.py`; do not edit by hand.",
        "",
        f"- Date: {info.date}",
        f"- Command: `{info.command}` ({info.mode}, {info.elapsed_s:.0f} s)",
        "- Versions: "
        + ", ".join(f"{name} {version}" for name, version in info.versions.items()),
        "- Machine: "
        + ", ".join(f"{key} {value}" for key, value in info.machine.items()),
        f"- Targets: {passed} PASS, {missed} MISS ({informational} info rows)",
        "- Profiles and before/after figures of each change made for a missed "
        "target: [docs/performance-notes.md](../docs/performance-notes.md)",
        "",
    ]
    missed_rows = [row.benchmark for row in all_rows if row.passed is False]
    if missed_rows:
        out += ["Missed: " + ", ".join(missed_rows) + ".", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        if section.note:
            out += [section.note, ""]
        out += [markdown_table(section.rows), ""]
    for block in info.extra_markdown:
        out += [block.rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"


def write_results(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def package_versions(names: Iterable[str] = VERSIONED) -> dict[str, str]:
    """Return Python's and each installed distribution's version."""
    versions = {"Python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def parse_cpu_model(cpuinfo: str) -> str:
    """Return the first ``model name`` in /proc/cpuinfo text, or ``unknown``."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown"


def machine_info() -> dict[str, str]:
    """Return the CPU model, core count, load average and OS of this machine."""
    try:
        cpu = parse_cpu_model(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "load average (1, 5, 15 min)": load,
        "OS": platform.platform(),
    }
