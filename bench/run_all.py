"""Run every perfprobe benchmark side by side; exit 1 if a target is missed.

Usage, from the repository root: ``.venv/bin/python bench/run_all.py
[--quick] [--skip-requests] [--no-callgrind] [--results PATH]``. The
benchmarks run against a throwaway SQLite database in a temporary directory,
removed afterwards; the tables are printed and written to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from bench.harness import Row
    from bench.results import Section

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def _set_import_path() -> None:
    # Run as a script, this directory comes first on sys.path, where its
    # modules could shadow top-level ones; import them as the bench package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "src")]


def _setup_django(db_path: Path) -> None:
    # The database must be named before django.setup() reads the settings;
    # DATABASE_URL is dropped so the run never touches a real server.
    os.environ["PERFPROBE_DEMO_DB"] = str(db_path)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _requests_benchmark(
    quick: bool, tmp_dir: Path
) -> tuple[list[Row], str, dict[str, str]]:
    """Run ``python -m bench.requests`` if present; return its row, markdown, tools."""
    from bench.harness import Row

    if not (BENCH_DIR / "requests").is_dir():
        return (
            [Row("requests", "", "not run", "", "bench/requests/ absent", "", None)],
            "",
            {},
        )
    json_path, md_path = tmp_dir / "requests.json", tmp_dir / "requests.md"
    command = [sys.executable, "-m", "bench.requests", "--json", str(json_path)]
    command += ["--markdown", str(md_path), *(["--quick"] if quick else [])]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
    markdown = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
    versions: dict[str, str] = {}
    if json_path.exists():
        data = json.loads(json_path.read_text(encoding="utf-8"))
        found = data.get("versions") if isinstance(data, dict) else None
        if isinstance(found, dict):
            versions = {str(k): str(v) for k, v in found.items()}
    row = Row(
        benchmark="requests (bench.requests)",
        baseline="",
        measured=f"exit {result.returncode}",
        ratio="",
        detail="its own tables below",
        target="exit 0 (all its targets met)",
        passed=result.returncode == 0,
    )
    return [row], markdown, versions


#: The request benchmark's multi-launch verdict that a run ends with: per
#: run, the views and the configurations besides the baseline. `/json/`
#: has only perfprobe's own targets, so it leaves the other tools out
#: (debug-toolbar's 4.4 ms a `/json/` request would take most of the time).
VERDICT_RUNS = (
    ("lazy", "perfprobe,nplusone,debug-toolbar"),
    ("json", "perfprobe"),
)
#: Launches per verdict run, full and quick.
VERDICT_LAUNCHES = 5
QUICK_VERDICT_LAUNCHES = 2


def _verdict_benchmark(
    quick: bool, launches: int, tmp_dir: Path
) -> tuple[list[Row], list[str]]:
    """Run each of ``VERDICT_RUNS`` as ``launches`` launches; rows and markdown."""
    from bench.harness import Row

    rows: list[Row] = []
    markdowns: list[str] = []
    for views, only in VERDICT_RUNS:
        json_path = tmp_dir / f"verdict-{views}.json"
        md_path = tmp_dir / f"verdict-{views}.md"
        command = [sys.executable, "-m", "bench.requests", "--launches", str(launches)]
        command += ["--views", views, "--only", only, "--no-collector"]
        command += ["--json", str(json_path), "--markdown", str(md_path)]
        command += ["--quick"] if quick else []
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
        if md_path.exists():
            markdowns.append(md_path.read_text(encoding="utf-8"))
        counts: dict[str, int] = {}
        if json_path.exists():
            data = json.loads(json_path.read_text(encoding="utf-8"))
            for verdict in data.get("verdicts", []):
                counts[verdict["verdict"]] = counts.get(verdict["verdict"], 0) + 1
        measured = ", ".join(f"{n} {v}" for v, n in counts.items())
        rows.append(
            Row(
                benchmark=f"requests /{views}/, {launches} launches",
                baseline="",
                measured=measured or f"exit {result.returncode}",
                ratio="",
                detail=f"none,control,{only}; its own tables below",
                target="every target met in every launch",
                passed=result.returncode == 0,
            )
        )
    return rows, markdowns


class _ArgumentError(ValueError):
    """A bad command line, reported as one line and status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


def _results_path(value: str) -> Path:
    """Return ``--results`` as a path, refused now if it cannot be written later.

    The results are written once every benchmark has run: a missing
    directory or a directory named as the file would otherwise be found
    only then, the whole run lost.
    """
    path = Path(value)
    if not path.parent.is_dir():
        raise ValueError(f"--results: no such directory for {path}: {path.parent}")
    if path.is_dir():
        raise ValueError(f"--results: {path} is a directory, not a file to write")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the tables, write RESULTS.md, return the status."""
    try:
        args = _arguments(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _run(args, argv)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """Return the command line's arguments; ``ValueError`` for a bad one."""
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer rounds and no callgrind requests: about 1-2 minutes",
    )
    parser.add_argument(
        "--skip-requests",
        action="store_true",
        help="do not run the request benchmark (python -m bench.requests)",
    )
    parser.add_argument(
        "--verdict-launches",
        type=int,
        metavar="K",
        help="launches of the request targets' verdict runs (default "
        f"{VERDICT_LAUNCHES}, quick {QUICK_VERDICT_LAUNCHES}; 0 leaves them out, "
        "as does --skip-requests)",
    )
    parser.add_argument(
        "--no-callgrind",
        action="store_true",
        help="do not count instructions with valgrind",
    )
    parser.add_argument(
        "--results",
        metavar="PATH",
        default=str(BENCH_DIR / "RESULTS.md"),
        help="where to write the markdown results (default bench/RESULTS.md)",
    )
    args = parser.parse_args(argv)
    if args.verdict_launches is None:
        args.verdict_launches = (
            QUICK_VERDICT_LAUNCHES if args.quick else VERDICT_LAUNCHES
        )
    if args.verdict_launches != 0 and not 2 <= args.verdict_launches <= 50:
        raise ValueError("--verdict-launches: 0 (none) or 2 to 50")
    _results_path(args.results)
    return args


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Run the benchmarks of ``args``; return the exit status."""
    _set_import_path()
    started_ns = time.perf_counter_ns()

    from bench.results import machine_info

    # Read before the benchmarks load the machine themselves.
    machine = machine_info()
    tmp_dir = Path(tempfile.mkdtemp(prefix="perfprobe-bench-"))
    try:
        _setup_django(tmp_dir / "bench.sqlite3")
        from django.db import connections

        from bench import (
            alternatives,
            callgrind,
            collector_memory,
            collector_million,
            demo_latency,
            fingerprint_cache,
            memory_checkpoint,
            query_overhead,
            timing_overhead,
        )
        from bench.harness import format_table
        from bench.results import Section

        print(
            f"perfprobe benchmarks ({'quick' if args.quick else 'full'}): "
            f"Python {platform.python_version()}, {machine['CPU']}, "
            f"{machine['cores']} cores, load {machine['load average (1, 5, 15 min)']}",
            flush=True,
        )
        plan: list[tuple[str, str, Callable[[], list[Row]]]] = [
            ("Timer overhead", "", lambda: timing_overhead.run(args.quick)),
            (
                "Timer against the alternatives",
                _first_paragraph(alternatives),
                lambda: alternatives.run(args.quick),
            ),
            (
                "Memory checkpoints",
                _first_paragraph(memory_checkpoint),
                lambda: memory_checkpoint.run(args.quick),
            ),
            ("Query recorder", "", lambda: query_overhead.run(args.quick)),
            ("Collector memory", "", lambda: collector_memory.run(args.quick)),
            (
                "Collector memory, 1,000,000 measurements",
                _first_paragraph(collector_million),
                lambda: collector_million.run(args.quick),
            ),
            ("Fingerprint cache", "", lambda: fingerprint_cache.run(args.quick)),
            (
                "Instruction counts (callgrind)",
                _first_paragraph(callgrind),
                lambda: callgrind.run(args.quick, enabled=not args.no_callgrind),
            ),
            (
                "Demo at time scale 1.0",
                _first_paragraph(demo_latency),
                lambda: demo_latency.run(args.quick),
            ),
        ]
        sections = []
        try:
            for title, note, bench in plan:
                section_started = time.perf_counter_ns()
                rows = bench()
                took_s = (time.perf_counter_ns() - section_started) / 1e9
                print(f"  {title}: {took_s:.1f} s", flush=True)
                sections.append(Section(title, tuple(rows), note))
        finally:
            connections.close_all()

        extra: list[str] = []
        tool_versions: dict[str, str] = {}
        if not args.skip_requests:
            rows, markdown, tool_versions = _requests_benchmark(args.quick, tmp_dir)
            if markdown:
                extra.append(markdown)
            if args.verdict_launches and (BENCH_DIR / "requests").is_dir():
                more, markdowns = _verdict_benchmark(
                    args.quick, args.verdict_launches, tmp_dir
                )
                rows += more
                extra += markdowns
            sections.append(Section("Requests", tuple(rows)))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)

    elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9
    all_rows = [row for section in sections for row in section.rows]
    failed = [row.benchmark for row in all_rows if row.passed is False]
    print(format_table(all_rows))
    print(
        f"{len(all_rows)} results, {len(failed)} missed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f"; {elapsed_s:.1f} s"
    )
    _write(args, sections, machine, tool_versions, extra, elapsed_s, argv)
    return 1 if failed else 0


def _first_paragraph(module: object) -> str:
    doc = (getattr(module, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[1].split()) if "\n\n" in doc else ""


def _write(
    args: argparse.Namespace,
    sections: list[Section],
    machine: dict[str, str],
    tool_versions: dict[str, str],
    extra: list[str],
    elapsed_s: float,
    argv: list[str] | None,
) -> None:
    from bench.results import RunInfo, package_versions, render_results, write_results

    info = RunInfo(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        mode="quick" if args.quick else "full",
        command=" ".join(
            ["python bench/run_all.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        elapsed_s=elapsed_s,
        versions={**package_versions(), **tool_versions},
        machine=machine,
        extra_markdown=tuple(extra),
    )
    path = Path(args.results)
    write_results(path, render_results(info, sections))
    print(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main())
