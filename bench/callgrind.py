"""Count instructions per operation with valgrind's callgrind, where available.

Timings on a shared machine move with its load; instruction counts do not,
so a small overhead can be told from noise. Each workload of
``callgrind_target.py`` runs under ``valgrind --tool=callgrind`` with
``PYTHONHASHSEED=0`` and the total instruction count (``Collected``) is read
from valgrind's summary.

- Timer block against empty ``with`` block: both processes start up and
  warm up identically and then run N blocks, so the difference of their
  totals over N is the instructions one ``measure_execution_time`` block adds.
- A no-query request through Django's WSGI handler with and without
  perfprobe's middleware (full runs only): start-up differs between the two
  (the middleware's imports), so each is run at two request counts and the
  per-request figure is the difference over the difference in requests.
- A view listing 50 rows read lazily (51 queries, an N+1; full runs only),
  unmonitored, with an execute wrapper that only calls through (what
  Django's wrapper mechanism costs by itself), and with perfprobe on
  default settings, each at two request counts as above. The figure is
  instructions added per query, the request's own share included.

Skipped, with an info row, when valgrind is not installed or ``--no-callgrind``
is given. Processes run two at a time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .harness import Row

TARGET = Path(__file__).resolve().parent / "callgrind_target.py"
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9,]+)")


def parse_collected(valgrind_stderr: str) -> int:
    """Return the instruction total from callgrind's summary lines.

    Raise ``ValueError`` when the summary is missing.
    """
    match = _COLLECTED.search(valgrind_stderr)
    if match is None:
        raise ValueError("no 'Collected :' line in valgrind's output")
    return int(match.group(1).replace(",", ""))


def _count(valgrind: str, mode: str, n: int, tmp: Path) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("DATABASE_URL", None)
    env["PERFPROBE_DEMO_DB"] = str(tmp / f"{mode}-{n}.sqlite3")
    result = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={tmp / f'{mode}-{n}.out'}",
            sys.executable,
            str(TARGET),
            mode,
            str(n),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "ok" not in result.stdout:
        raise RuntimeError(f"{mode} {n} failed: {result.stderr.strip()[-300:]}")
    return parse_collected(result.stderr)


def _count_all(valgrind: str, jobs: Sequence[tuple[str, int]]) -> dict[str, int]:
    with (
        tempfile.TemporaryDirectory(prefix="perfprobe-callgrind-") as tmp,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        futures = {
            f"{mode}:{n}": pool.submit(_count, valgrind, mode, n, Path(tmp))
            for mode, n in jobs
        }
        return {key: future.result() for key, future in futures.items()}


def _skipped(reason: str) -> list[Row]:
    return [Row("callgrind", "", "skipped", "", reason, "", None)]


def run(quick: bool, enabled: bool = True) -> list[Row]:
    """Return instructions per timer block and, in full runs, per request."""
    if not enabled:
        return _skipped("--no-callgrind")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return _skipped("valgrind not installed")

    blocks = 2_000 if quick else 10_000
    small, large = 100, 600
    lazy_small, lazy_large = 10, 30
    jobs = [("empty", blocks), ("timer", blocks)]
    if not quick:
        jobs += [
            (mode, n)
            for mode in ("request-plain", "request-perfprobe")
            for n in (small, large)
        ]
        jobs += [(mode, n) for mode in LAZY_MODES for n in (lazy_small, lazy_large)]
    try:
        counts = _count_all(valgrind, jobs)
    except (RuntimeError, ValueError) as exc:
        return _skipped(f"callgrind failed: {exc}")

    empty, timer = counts[f"empty:{blocks}"], counts[f"timer:{blocks}"]
    rows = [
        Row(
            benchmark="callgrind: timer block",
            baseline=f"empty with, {blocks:,} blocks",
            measured=f"{(timer - empty) / blocks:,.0f} instr/block",
            ratio="",
            detail=f"totals {empty:,} vs {timer:,}",
            target="",
            passed=None,
        )
    ]
    if quick:
        rows.append(_skipped("requests: full runs only")[0])
        return rows

    per_request = {
        mode: (counts[f"{mode}:{large}"] - counts[f"{mode}:{small}"]) / (large - small)
        for mode in ("request-plain", "request-perfprobe")
    }
    plain, probed = per_request["request-plain"], per_request["request-perfprobe"]
    rows.append(
        Row(
            benchmark="callgrind: no-query request",
            baseline=f"plain {plain:,.0f} instr/req",
            measured=f"perfprobe {probed:,.0f} instr/req",
            ratio=f"{probed / plain:.2f}x",
            detail=f"+{probed - plain:,.0f} instr/req ({small} vs {large} requests "
            "after the recent events are full)",
            target="",
            passed=None,
        )
    )
    rows.append(_lazy_row(counts, lazy_small, lazy_large))
    return rows


LAZY_MODES = ("lazy-plain", "lazy-wrapper", "lazy-perfprobe")
#: Queries the lazy view runs per request.
LAZY_QUERIES = 51


def _lazy_row(counts: dict[str, int], small: int, large: int) -> Row:
    """Return the lazy list's added instructions per query, wrapper alone beside."""
    per_request = {
        mode: (counts[f"{mode}:{large}"] - counts[f"{mode}:{small}"]) / (large - small)
        for mode in LAZY_MODES
    }
    plain = per_request["lazy-plain"]
    wrapper = (per_request["lazy-wrapper"] - plain) / LAZY_QUERIES
    probed = (per_request["lazy-perfprobe"] - plain) / LAZY_QUERIES
    return Row(
        benchmark="callgrind: 50 rows read lazily, per query",
        baseline=f"plain {plain / LAZY_QUERIES:,.0f} instr/query",
        measured=f"perfprobe +{probed:,.0f} instr/query",
        ratio=f"{per_request['lazy-perfprobe'] / plain:.3f}x",
        detail=f"an empty execute wrapper alone +{wrapper:,.0f} instr/query "
        f"({small} vs {large} requests)",
        target="",
        passed=None,
    )
