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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from .analysis import (
    CollectorResult,
    Target,
    ViewResult,
    check_targets,
    collector_results,
    compare,
)
from .catalog import (
    BASELINE,
    BY_NAME,
    CONFIGURATIONS,
    CONTROL,
    PERFPROBE,
    VIEWS,
    VIEWS_BY_NAME,
    View,
)
from .coordinator import (
    FULL_COLLECTOR,
    QUICK_COLLECTOR,
    CollectorPlan,
    Measurements,
    WorkerError,
    run,
)
from .env import ensure_env, tool_versions
from .formatting import collector_section, document, launches_document
from .launches import (
    MET,
    VERDICT_RULE,
    Launch,
    TargetAcross,
    judge_launches,
    view_across,
)

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


class _ArgumentError(ValueError):
    """A bad command line, reported as one line and status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


#: Largest ``--launches``: each launch starts every worker afresh.
MAX_LAUNCHES = 50


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        help="configurations to run besides the baseline and the control, "
        "comma-separated (default all: "
        f"{', '.join(c.name for c in CONFIGURATIONS[2:])})",
    )
    parser.add_argument(
        "--views",
        metavar="A,B",
        help="views to time, comma-separated: "
        f"{', '.join(_VIEW_WORDS)} or {', '.join(v.name for v in VIEWS)} "
        "(default all)",
    )
    parser.add_argument(
        "--launches",
        metavar="K",
        default="1",
        help="run the benchmark K times, each with fresh worker processes, and "
        "judge the targets over the launches (default 1)",
    )
    parser.add_argument(
        "--no-control",
        action="store_true",
        help=f"leave out the {CONTROL} worker (the baseline's settings timed "
        "against the baseline, which shows the noise of a comparison)",
    )
    parser.add_argument(
        "--no-collector",
        action="store_true",
        help="leave out the separate cyclic collector measurement",
    )
    return parser


#: Short names for the views, from their paths: json, list, lazy.
_VIEW_WORDS = {v.path.strip("/"): v for v in VIEWS}


def _views(value: str | None) -> list[View]:
    if value is None:
        return list(VIEWS)
    wanted = [w.strip() for w in value.split(",") if w.strip()]
    chosen: list[View] = []
    for word in wanted:
        view = _VIEW_WORDS.get(word) or VIEWS_BY_NAME.get(word)
        if view is None:
            raise ValueError(
                f"--views: unknown view {word} (choose from {', '.join(_VIEW_WORDS)})"
            )
        chosen.append(view)
    if not chosen:
        raise ValueError("--views: no view named")
    return [v for v in VIEWS if v in chosen]


def _launches(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_LAUNCHES:
        raise ValueError(
            f"--launches: expected a whole number from 1 to {MAX_LAUNCHES}, "
            f"got {value!r}"
        )
    return count


def _names(only: str | None, control: bool = True) -> list[str]:
    """Return the configurations to run: the baseline first, then the control.

    The control runs unless ``control`` is false, whatever ``--only`` names.
    """
    unmonitored = [BASELINE, CONTROL] if control else [BASELINE]
    if only is None:
        return unmonitored + [c.name for c in CONFIGURATIONS[2:]]
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise ValueError(f"--only: unknown configuration {', '.join(unknown)}")
    chosen = [n for n in BY_NAME if n in wanted and n not in (BASELINE, CONTROL)]
    if not chosen:
        # The baseline alone would be timed against itself, every target
        # "not run" and missed, after the whole run.
        raise ValueError(
            f"--only: no configuration named besides {BASELINE} and {CONTROL}"
        )
    return unmonitored + chosen


def _results(
    data: Measurements, views: Sequence[View]
) -> dict[str, dict[str, ViewResult]]:
    results: dict[str, dict[str, ViewResult]] = {}
    for view in views:
        by_name = data.per_request_ns[view.name]
        baseline = by_name[BASELINE]
        results[view.name] = {
            name: compare(series, baseline, view.queries)
            for name, series in by_name.items()
        }
    return results


def _collector(
    data: Measurements,
    results: dict[str, dict[str, ViewResult]],
    views: Sequence[View],
) -> dict[str, dict[str, CollectorResult]]:
    return {
        view.name: collector_results(
            data.collector.get(view.name, {}),
            results[view.name],
            BASELINE,
            view.queries if view.queries > 1 else 0,
        )
        for view in views
    }


def _targets(
    data: Measurements, results: dict[str, dict[str, ViewResult]]
) -> list[Target]:
    """Judge perfprobe's targets on one launch, for the views it timed."""
    ran = list(next(iter(results.values())))
    detectors = [
        n for n in ran if BY_NAME[n].detects_n_plus_one and not n.startswith(PERFPROBE)
    ]
    return check_targets(
        results.get("no-query"),
        results.get("lazy-list"),
        PERFPROBE,
        data.proofs.get(PERFPROBE, (False, ""))[0],
        detectors,
    )


def _collector_intro(
    plan: CollectorPlan, views: Sequence[View], n_plus_one_queries: int
) -> list[str]:
    counts = ", ".join(
        f"{v.path} {plan.requests[v.name]:,} after {plan.warmup[v.name]:,}"
        for v in views
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


def _notes(launches: Sequence[Launched], install_failed: list[str]) -> list[str]:
    notes = list(_NOTES)
    several = len(launches) > 1
    for index, launched in enumerate(launches):
        data = launched.data
        where = f" (launch {index + 1})" if several else ""
        notes += [f"`{n}` did not run{where}: {why}" for n, why in data.failed.items()]
        notes += [
            f"`{n}`: no collector measurement{where}: {why}"
            for n, why in data.collector_failed.items()
        ]
    notes += [f"failed to install: `{r}`" for r in install_failed]
    return notes


def _batches(data: Measurements) -> str:
    return ", ".join(f"{v} x{n}" for v, n in data.batch.items())


def _render(
    launched: Launched,
    views: Sequence[View],
    install_failed: list[str],
    mode: str,
    elapsed_s: float,
    plan: CollectorPlan | None,
) -> tuple[str, bool]:
    data, results = launched.data, launched.results
    ran = list(results[views[0].name])
    proofs = {n: data.proofs[n][1] for n in ran if n in data.proofs}
    recorded = {
        n: (
            "—"
            if n in (BASELINE, CONTROL)
            else "yes"
            if data.proofs[n][0]
            else "**NO**"
        )
        for n in ran
        if n in data.proofs
    }
    targets = _targets(data, results)
    django_version = data.info[BASELINE].get("django", "?")
    pairs = len(data.per_request_ns[views[0].name][BASELINE]) // 2
    header = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {mode} run, {elapsed_s:.0f} s: "
        f"Python {platform.python_version()}, Django {django_version}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}.",
        f"{pairs} round pairs (A B … B A, rows of a Williams design: each "
        "configuration follows every other equally often); requests per batch: "
        f"{_batches(data)}. Ratios and added times are medians over round pairs "
        "of the configuration against the baseline in the same pair; spread is "
        "the IQR (full range under 4 pairs) over the median.",
        *_control_line(data),
    ]
    tables = [
        (f"{v.description} (`{v.path}`)", results[v.name], v.queries > 1) for v in views
    ]
    section: list[str] = []
    if plan is not None:
        collector = _collector(data, results, views)
        collector_views = [
            (f"{v.description} (`{v.path}`)", collector[v.name], v.queries > 1)
            for v in views
        ]
        section = collector_section(
            _collector_intro(plan, views, VIEWS[-1].queries), collector_views
        )
    notes = _notes([launched], install_failed)
    notes.append(
        "One launch: its worker processes carry offsets of their own that its "
        "spread does not show, so a target near its line is settled only over "
        "several launches (`--launches K`, see bench/requests/README.md)."
    )
    text = document(header, tables, recorded, proofs, targets, notes, section)
    return text, all(t.passed for t in targets)


def _control_line(data: Measurements) -> list[str]:
    if CONTROL not in data.info:
        return []
    return [
        f"`{CONTROL}` is a second worker with the baseline's settings, timed "
        "against the baseline like every configuration: its figures are what a "
        "comparison reads when nothing differs, the noise of this run's "
        "method (worker offsets and drift), not a cost."
    ]


def _render_launches(
    launched: Sequence[Launched],
    views: Sequence[View],
    install_failed: list[str],
    mode: str,
    elapsed_s: float,
    plan: CollectorPlan | None,
) -> tuple[str, list[TargetAcross]]:
    launches = [
        Launch(
            each.results,
            _targets(each.data, each.results),
            _with_collector(each, views) if plan is not None else {},
        )
        for each in launched
    ]
    across = judge_launches([launch.targets for launch in launches])
    first = launched[0].data
    django_version = first.info[BASELINE].get("django", "?")
    pairs = len(first.per_request_ns[views[0].name][BASELINE]) // 2
    runs = "; ".join(
        f"{i + 1}: load {each.load:.2f} at its start, {each.elapsed_s:.0f} s, "
        f"{_batches(each.data)}"
        for i, each in enumerate(launched)
    )
    header = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {len(launched)} launches, {mode} "
        f"sizes, {elapsed_s:.0f} s: Python {platform.python_version()}, Django "
        f"{django_version}, {os.cpu_count()} CPUs, {platform.machine()}.",
        f"Each launch starts every worker process afresh and runs {pairs} round "
        "pairs (A B … B A, rows of a Williams design: each configuration "
        "follows every other equally often), calibrating its own batches; its "
        "figure is "
        "the median over its round pairs of the configuration against the "
        "baseline in the same pair, as in a single run. Each launch's figure is "
        "listed, then the median and the range (lowest to highest) over the "
        "launches. Launches (load average over 1 minute; requests per batch): "
        f"{runs}.",
        *_control_line(first),
    ]
    if plan is not None and any(v.queries > 1 for v in views):
        header.append(
            "The collector column is info, not judged: per launch, (timed added "
            "µs/req + collector µs/req - the baseline's) / queries, from the "
            "steady-state measurement with no forced collection after each "
            "launch's timed rounds (see the single-run section's method)."
        )
    per_view = [
        (
            f"{v.description} (`{v.path}`)",
            view_across(launches, v.name, v.queries > 1, BASELINE),
            v.queries > 1,
        )
        for v in views
    ]
    notes = _notes(launched, install_failed)
    for index, each in enumerate(launched):
        found, proof = each.data.proofs.get(PERFPROBE, (False, "not run"))
        if not found:
            notes.append(f"`{PERFPROBE}` launch {index + 1} recorded: {proof}")
    text = launches_document(
        header,
        per_view,
        across,
        len(launched),
        VERDICT_RULE,
        notes,
        [v.path for v in views],
    )
    return text, across


def _with_collector(
    launched: Launched, views: Sequence[View]
) -> dict[str, float | None]:
    n_plus_one = [v for v in views if v.queries > 1]
    if not n_plus_one:
        return {}
    view = n_plus_one[0]
    by_name = _collector(launched.data, launched.results, [view])[view.name]
    return {name: result.added_ns_per_query for name, result in by_name.items()}


@dataclass
class Launched:
    """One launch's measurements, results, and the load and time it ran at."""

    data: Measurements
    results: dict[str, dict[str, ViewResult]]
    load: float
    elapsed_s: float


def _payload(launched: Launched) -> dict[str, Any]:
    data = launched.data
    return {
        "batch": data.batch,
        "per_request_ns": data.per_request_ns,
        "results": {
            v: {n: asdict(r) for n, r in by.items()}
            for v, by in launched.results.items()
        },
        "proofs": {n: {"recorded": p[0], "text": p[1]} for n, p in data.proofs.items()},
        "collector": data.collector,
        "collector_failed": data.collector_failed,
        "failed": data.failed,
        "load": launched.load,
        "elapsed_s": launched.elapsed_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and return the exit status."""
    try:
        args = _parser().parse_args(argv)
        names = _names(args.only, control=not args.no_control)
        views = _views(args.views)
        count = _launches(args.launches)
        for out in (args.json, args.markdown):
            if out is not None and not out.parent.is_dir():
                raise ValueError(f"no such directory for {out}: {out.parent}")
            if out is not None and out.is_dir():
                raise ValueError(f"{out} is a directory, not a file to write")
        if (
            args.json is not None
            and args.markdown is not None
            and args.json.resolve() == args.markdown.resolve()
        ):
            # The JSON would be written over the markdown just written.
            raise ValueError(f"--json and --markdown name the same file: {args.json}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    started_s = time.monotonic()
    plan = (
        None if args.no_collector else QUICK_COLLECTOR if args.quick else FULL_COLLECTOR
    )
    launched: list[Launched] = []
    try:
        python, install_failed = ensure_env()
        versions = tool_versions(python)
        for index in range(count):
            if count > 1:
                print(f"launch {index + 1}/{count}", file=sys.stderr, flush=True)
            launched.append(_launch(names, python, views, args.quick, plan))
    except (WorkerError, OSError) as exc:
        print(f"error: the benchmark could not run: {exc}", file=sys.stderr)
        return 1

    elapsed_s = time.monotonic() - started_s
    mode = "quick" if args.quick else "full"
    payload: dict[str, Any] = {"mode": mode, "views": [v.name for v in views]}
    if count == 1:
        text, passed = _render(
            launched[0], views, install_failed, mode, elapsed_s, plan
        )
        payload.update(_payload(launched[0]))
    else:
        text, across = _render_launches(
            launched, views, install_failed, mode, elapsed_s, plan
        )
        passed = all(t.verdict == MET for t in across)
        payload["launches"] = [_payload(each) for each in launched]
        payload["verdicts"] = [
            {
                "target": t.description,
                "per_launch": [
                    None if x is None else {"measured": x.measured, "met": x.passed}
                    for x in t.per_launch
                ],
                "verdict": t.verdict,
            }
            for t in across
        ]
    payload.update(
        {"install_failed": install_failed, "versions": versions, "passed": passed}
    )
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if passed else 1


def _launch(
    names: list[str],
    python: str,
    views: Sequence[View],
    quick: bool,
    plan: CollectorPlan | None,
) -> Launched:
    """Run one launch: fresh workers in a fresh temporary directory."""
    load = os.getloadavg()[0]
    started_s = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="perfprobe-bench-requests-"))
    try:
        data = run(
            names,
            python,
            work_dir,
            pairs=3 if quick else 8,
            batch_ns=30_000_000 if quick else 80_000_000,
            collector=plan,
            views=views,
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return Launched(data, _results(data, views), load, time.monotonic() - started_s)
