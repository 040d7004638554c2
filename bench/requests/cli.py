"""Parse the command line, run the request benchmark, write and judge results.

Exit status: 0 when every target is met, 1 when one is missed (or the run
could not be made), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .analysis import (
    CollectorResult,
    ViewResult,
    check_targets,
    collector_results,
    compare,
)
from .catalog import BASELINE, BY_NAME, CONFIGURATIONS, PERFPROBE, VIEWS
from .coordinator import (
    FULL_COLLECTOR,
    QUICK_COLLECTOR,
    CollectorPlan,
    Measurements,
    WorkerError,
    run,
)
from .env import ensure_env, tool_versions
from .formatting import collector_section, document

_NOTES = (
    "django-debug-toolbar only inserts itself into HTML, but with "
    "SHOW_TOOLBAR_CALLBACK always true it does all its recording for these "
    "JSON responses too: every panel instruments the request, generates its "
    "stats and the toolbar is rendered and stored (its history panel needs "
    "it). Only the final insertion into the page is skipped.",
    "N+1 detection: debug-toolbar marks similar queries, nplusone logs lazy "
    "loads; django-silk records every query but flags no N+1, and "
    "django-prometheus and OpenTelemetry's Django instrumentation (no query "
    "spans without a database instrumentation) do not look at queries that "
    "way, so the 10x target is checked against debug-toolbar and nplusone.",
    "Spans are exported synchronously (SimpleSpanProcessor) to an exporter "
    "that counts and drops them, so their whole cost is inside the request.",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.requests",
        description="Time Django requests under perfprobe and the alternatives.",
    )
    parser.add_argument("--quick", action="store_true", help="about 1.5 minutes")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write data")
    parser.add_argument(
        "--markdown", type=Path, metavar="OUT.md", help="write the markdown section"
    )
    parser.add_argument(
        "--only",
        metavar="A,B",
        help="configurations to run besides the baseline, comma-separated "
        f"(default all: {', '.join(c.name for c in CONFIGURATIONS[1:])})",
    )
    return parser


def _names(only: str | None) -> list[str]:
    if only is None:
        return [c.name for c in CONFIGURATIONS]
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise ValueError(f"--only: unknown configuration {', '.join(unknown)}")
    return [BASELINE, *[n for n in BY_NAME if n in wanted and n != BASELINE]]


def _results(data: Measurements) -> dict[str, dict[str, ViewResult]]:
    results: dict[str, dict[str, ViewResult]] = {}
    for view in VIEWS:
        by_name = data.per_request_ns[view.name]
        baseline = by_name[BASELINE]
        results[view.name] = {
            name: compare(series, baseline, view.queries)
            for name, series in by_name.items()
        }
    return results


def _collector(
    data: Measurements, results: dict[str, dict[str, ViewResult]]
) -> dict[str, dict[str, CollectorResult]]:
    return {
        view.name: collector_results(
            data.collector.get(view.name, {}),
            results[view.name],
            BASELINE,
            view.queries if view.queries > 1 else 0,
        )
        for view in VIEWS
    }


def _collector_intro(plan: CollectorPlan, n_plus_one_queries: int) -> list[str]:
    counts = ", ".join(
        f"{v.path} {plan.requests[v.name]:,} after {plan.warmup[v.name]:,}"
        for v in VIEWS
    )
    return [
        "The timed figures above force a full collection before every batch, "
        "outside the timing, so the collections that a tool's kept objects "
        "bring on seldom fall inside a timed batch (a full one practically "
        "never). Measured apart here: after the timed rounds, each worker in "
        "turn serves each view with no forced collection, first a warm-up, "
        "then the measured requests while a `gc.callbacks` hook times every "
        f"collection ({counts} warm-up requests; at most "
        f"{plan.budget_ns / 1e9:g} s measured and a quarter of that for the "
        "warm-up, so slow tools serve fewer: the requests column says how "
        "many). Collector µs/req is the time inside collections over the "
        "requests measured; gen N /req the collections of each generation "
        "per request (a full collection is gen 2). For the N+1 view, added "
        "µs/query incl. collector = (timed added µs/req + collector µs/req "
        f"- the baseline's collector µs/req) / {n_plus_one_queries}.",
        "",
        "Info only: the targets are judged on the timed figures without it. "
        "The targets were set on the timed method, and this is one run per "
        "configuration, not interleaved with the baseline, with no spread: "
        "a full collection every few hundred requests makes it lumpy, and "
        "the measured requests hold only a few of them.",
    ]


def _render(
    data: Measurements,
    results: dict[str, dict[str, ViewResult]],
    install_failed: list[str],
    mode: str,
    elapsed_s: float,
    plan: CollectorPlan,
) -> tuple[str, bool]:
    ran = list(results[VIEWS[0].name])
    proofs = {n: data.proofs[n][1] for n in ran if n in data.proofs}
    recorded = {
        n: ("—" if n == BASELINE else "yes" if data.proofs[n][0] else "**NO**")
        for n in ran
        if n in data.proofs
    }
    detectors = [
        n for n in ran if BY_NAME[n].detects_n_plus_one and not n.startswith(PERFPROBE)
    ]
    perfprobe_proof = data.proofs.get(PERFPROBE, (False, ""))
    targets = check_targets(
        results["no-query"],
        results["lazy-list"],
        PERFPROBE,
        perfprobe_proof[0],
        detectors,
    )
    django_version = data.info[BASELINE].get("django", "?")
    batches = ", ".join(f"{v} x{n}" for v, n in data.batch.items())
    pairs = len(data.per_request_ns[VIEWS[0].name][BASELINE]) // 2
    header = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {mode} run, {elapsed_s:.0f} s: "
        f"Python {platform.python_version()}, Django {django_version}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}.",
        f"{pairs} round pairs (A B … B A, rotating); requests per batch: "
        f"{batches}. Ratios and added times are medians over round pairs of "
        "the configuration against the baseline in the same pair; spread is "
        "the IQR (full range under 4 pairs) over the median.",
    ]
    notes = list(_NOTES)
    notes += [f"`{n}` did not run: {why}" for n, why in data.failed.items()]
    notes += [f"failed to install: `{r}`" for r in install_failed]
    notes += [
        f"`{n}`: no collector measurement: {why}"
        for n, why in data.collector_failed.items()
    ]
    views = [
        (f"{v.description} (`{v.path}`)", results[v.name], v.queries > 1) for v in VIEWS
    ]
    collector = _collector(data, results)
    collector_views = [
        (f"{v.description} (`{v.path}`)", collector[v.name], v.queries > 1)
        for v in VIEWS
    ]
    section = collector_section(
        _collector_intro(plan, VIEWS[-1].queries), collector_views
    )
    text = document(header, views, recorded, proofs, targets, notes, section)
    return text, all(t.passed for t in targets)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and return the exit status."""
    args = _parser().parse_args(argv)
    try:
        names = _names(args.only)
        for out in (args.json, args.markdown):
            if out is not None and not out.parent.is_dir():
                raise ValueError(f"no such directory for {out}: {out.parent}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    started_s = time.monotonic()
    plan = QUICK_COLLECTOR if args.quick else FULL_COLLECTOR
    work_dir = Path(tempfile.mkdtemp(prefix="perfprobe-bench-requests-"))
    try:
        python, install_failed = ensure_env()
        versions = tool_versions(python)
        data = run(
            names,
            python,
            work_dir,
            pairs=3 if args.quick else 8,
            batch_ns=30_000_000 if args.quick else 80_000_000,
            collector=plan,
        )
    except (WorkerError, OSError) as exc:
        print(f"error: the benchmark could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    results = _results(data)
    elapsed_s = time.monotonic() - started_s
    mode = "quick" if args.quick else "full"
    text, passed = _render(data, results, install_failed, mode, elapsed_s, plan)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")
    if args.json is not None:
        payload = {
            "mode": mode,
            "batch": data.batch,
            "per_request_ns": data.per_request_ns,
            "results": {
                v: {n: asdict(r) for n, r in by.items()} for v, by in results.items()
            },
            "proofs": {
                n: {"recorded": p[0], "text": p[1]} for n, p in data.proofs.items()
            },
            "collector": data.collector,
            "collector_failed": data.collector_failed,
            "failed": data.failed,
            "install_failed": install_failed,
            "versions": versions,
            "passed": passed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if passed else 1
