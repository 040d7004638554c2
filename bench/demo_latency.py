"""Run the demo at time scale 1.0 and compare its wall time with its injected latency.

``python manage.py run_performance_demo --time-scale 1.0`` runs in a
subprocess on a fresh, migrated SQLite file in a temporary directory, with
``DATABASE_URL`` and every ``PERFPROBE_*`` variable removed from its
environment. Its wall time (process start to exit) is set against the sum of
the latencies the demo injects on its critical path, read from the report
it writes:

- database_operations: the fast query and the slow query once each, and the
  N+1 query latency once per customer loaded lazily;
- api_requests: each endpoint's nominal server time, requests run one after
  the other;
- concurrent_operations: the longest worker's planned time (the workers run
  in parallel, so only the longest one is on the critical path);
- error_scenarios: the query timeout and the HTTP 500's server time;
- memory_intensive: none (its time is real work, not injected).

Nominal values are at scale 1.0 and multiplied by the scale; planned worker
times and the timeout are reported already scaled. Target: the demo finishes
within 1.5 s of that sum.

Bytecode: the timed run reads compiled modules from a cache in the temporary
directory, which the migrate run and an untimed ``run_performance_demo
--help`` fill first, as any second run of the demo finds them. Without it,
an environment with ``PYTHONDONTWRITEBYTECODE`` set (this project's shared
machines) compiles the project's modules from source at every start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .harness import Row

TARGET_SLACK_S = 1.5
TIME_SCALE = 1.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def scenario_latency_s(scenario: Mapping[str, Any], time_scale: float) -> float:
    """Return the injected latency on one scenario's critical path, in seconds.

    Raise ``KeyError`` for a scenario this benchmark does not know.
    """
    name = scenario["name"]
    nominal = scenario["nominal_latencies_s"]
    details = scenario["details"]
    if name == "database_operations":
        lazy = details["customers_loaded_lazily"]
        return time_scale * float(
            nominal["fast_indexed_query"]
            + nominal["slow_query"]
            + lazy * nominal["n_plus_one_query"]
        )
    if name == "api_requests":
        return time_scale * float(sum(nominal.values()))
    if name == "concurrent_operations":
        return float(max(w["planned_s"] for w in details["workers"]))
    if name == "error_scenarios":
        timeout_s = float(details["query_timeout"]["timeout_s"])
        return timeout_s + time_scale * float(nominal["http_500"])
    if name == "memory_intensive":
        return 0.0
    raise KeyError(f"no latency rule for scenario {name!r}")


def injected_latency_s(
    report: Mapping[str, Any], time_scale: float
) -> dict[str, float]:
    """Return each scenario's injected critical-path latency, by name."""
    return {s["name"]: scenario_latency_s(s, time_scale) for s in report["scenarios"]}


def demo_environment(
    base: Mapping[str, str], db_path: Path, bytecode_dir: Path | None = None
) -> dict[str, str]:
    """Return ``base`` without DATABASE_URL or PERFPROBE_*, naming ``db_path``.

    With ``bytecode_dir``, compiled modules are written to and read from
    there (``PYTHONPYCACHEPREFIX``), ``PYTHONDONTWRITEBYTECODE`` removed.
    """
    env = {
        key: value
        for key, value in base.items()
        if key != "DATABASE_URL" and not key.startswith("PERFPROBE_")
    }
    env["PERFPROBE_DEMO_DB"] = str(db_path)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if bytecode_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_dir)
    return env


def _run_demo(tmp: Path) -> tuple[float, dict[str, Any]]:
    env = demo_environment(os.environ, tmp / "demo.sqlite3", tmp / "bytecode")
    manage = [sys.executable, str(REPO_ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--noinput", "--verbosity", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    # Imports what the command imports at start-up, so their bytecode is
    # cached; it runs no scenario and leaves the database alone.
    subprocess.run(
        [*manage, "run_performance_demo", "--help"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    report_path = tmp / "report.json"
    started_ns = time.perf_counter_ns()
    subprocess.run(
        [
            *manage,
            "run_performance_demo",
            "--time-scale",
            f"{TIME_SCALE:g}",
            "--output-file",
            str(report_path),
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall_s = (time.perf_counter_ns() - started_ns) / 1e9
    return wall_s, json.loads(report_path.read_text(encoding="utf-8"))


def run(quick: bool) -> list[Row]:
    """Return the judged wall-time row and one info row per scenario."""
    del quick
    with tempfile.TemporaryDirectory(prefix="perfprobe-demo-bench-") as tmp:
        wall_s, report = _run_demo(Path(tmp))
    injected = injected_latency_s(report, TIME_SCALE)
    total_s = sum(injected.values())
    scenarios_s = sum(s["duration_s"] for s in report["scenarios"])
    failed = [s["name"] for s in report["scenarios"] if s["status"] != "ok"]
    rows = [
        Row(
            benchmark="demo: wall time, scale 1.0",
            baseline=f"injected {total_s:.2f} s",
            measured=f"{wall_s:.2f} s",
            ratio="",
            detail=(
                f"+{wall_s - total_s:.2f} s; scenarios {scenarios_s:.2f} s; "
                "bytecode cached; "
                + (f"failed: {', '.join(failed)}" if failed else "all ok")
            ),
            target=f"≤ injected + {TARGET_SLACK_S:g} s",
            passed=not failed and wall_s - total_s <= TARGET_SLACK_S,
        )
    ]
    for scenario in report["scenarios"]:
        name = scenario["name"]
        rows.append(
            Row(
                benchmark=f"demo: {name}",
                baseline=f"injected {injected[name]:.2f} s",
                measured=f"{scenario['duration_s']:.2f} s",
                ratio="",
                detail=f"+{scenario['duration_s'] - injected[name]:.2f} s",
                target="",
                passed=None,
            )
        )
    return rows
