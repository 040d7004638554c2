"""Start one worker per configuration and time them in interleaved rounds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .analysis import round_orders
from .catalog import BASELINE, VIEWS, View

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerError(RuntimeError):
    """A worker failed to start or to answer a command."""


class Worker:
    """A configuration served by a child process, driven over its pipes."""

    def __init__(self, name: str, python: str, db_path: Path, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        env = dict(os.environ)
        # The perfprobe under test is this checkout's, never an installed one.
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [python, "-m", "bench.requests.worker", name, str(db_path)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.info: dict[str, Any] = {}

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"{self.name}: worker exited; {self.last_log_line()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"{self.name}: {answer['error']}")
        return answer

    def wait_ready(self) -> None:
        """Wait for the worker's first line; raise ``WorkerError`` on failure."""
        self.info = self._read()

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and return the answer."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(f"{self.name}: worker is gone") from None
        return self._read()

    def run(self, path: str, n: int) -> int:
        """Time ``n`` requests to ``path`` in the worker; return nanoseconds."""
        return int(self.ask({"cmd": "run", "view": path, "n": n})["ns"])

    def last_log_line(self) -> str:
        """Return the last line the worker wrote to stderr."""
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """Ask the worker to quit, and kill it (by its pid) if it does not."""
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.write('{"cmd": "quit"}\n')
                self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
            self._log.close()


@dataclass(frozen=True)
class CollectorPlan:
    """How long each worker serves a view for the collector measurement.

    Per view name: requests measured and warm-up requests before them;
    ``budget_ns`` caps the measured part's time (a quarter of it the
    warm-up's), so the slowest tools serve fewer.
    """

    requests: dict[str, int]
    warmup: dict[str, int]
    budget_ns: int


QUICK_COLLECTOR = CollectorPlan(
    requests={"no-query": 1_000, "joined-list": 500, "lazy-list": 300},
    warmup={"no-query": 250, "joined-list": 125, "lazy-list": 75},
    budget_ns=3_000_000_000,
)
FULL_COLLECTOR = CollectorPlan(
    requests={"no-query": 5_000, "joined-list": 2_000, "lazy-list": 1_500},
    warmup={"no-query": 1_000, "joined-list": 400, "lazy-list": 300},
    budget_ns=12_000_000_000,
)


@dataclass
class Measurements:
    """Per-request nanoseconds per view and configuration, one per round."""

    batch: dict[str, int] = field(default_factory=dict)
    per_request_ns: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    proofs: dict[str, tuple[bool, str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per view and configuration, the worker's answer to ``gc``.
    collector: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    collector_failed: dict[str, str] = field(default_factory=dict)


def start_workers(
    names: Sequence[str], python: str, work_dir: Path, failed: dict[str, str]
) -> dict[str, Worker]:
    """Start every worker at once, then keep those that came up."""
    workers = {
        name: Worker(
            name, python, work_dir / f"{name}.sqlite3", work_dir / f"{name}.log"
        )
        for name in names
    }
    ready: dict[str, Worker] = {}
    for name, worker in workers.items():
        try:
            worker.wait_ready()
            ready[name] = worker
        except WorkerError as exc:
            failed[name] = str(exc)
            worker.stop()
    return ready


def calibrate(
    worker: Worker, target_ns: int, views: Sequence[View] = VIEWS
) -> dict[str, int]:
    """Return per view the batch size that takes the baseline ``target_ns``."""
    sizes: dict[str, int] = {}
    for view in views:
        n = 20
        elapsed_ns = worker.run(view.path, n)
        sizes[view.name] = max(5, min(5_000, round(target_ns * n / elapsed_ns)))
    return sizes


def measure_collector(
    workers: dict[str, Worker],
    plan: CollectorPlan,
    result: Measurements,
    views: Sequence[View] = VIEWS,
) -> None:
    """Ask every worker for its collector time on each view, one at a time."""
    for view in views:
        by_name: dict[str, dict[str, Any]] = {}
        for name, worker in workers.items():
            if name in result.collector_failed:
                continue
            command = {
                "cmd": "gc",
                "view": view.path,
                "n": plan.requests[view.name],
                "warmup": plan.warmup[view.name],
                "budget_ns": plan.budget_ns,
            }
            try:
                by_name[name] = worker.ask(command)
            except WorkerError as exc:
                result.collector_failed[name] = str(exc)
        result.collector[view.name] = by_name


def measure(
    workers: dict[str, Worker],
    pairs: int,
    batch_ns: int,
    progress: Callable[[str], None],
    failed: dict[str, str],
    collector: CollectorPlan | None = None,
    views: Sequence[View] = VIEWS,
) -> Measurements:
    """Warm every worker up, then run the interleaved rounds on each view."""
    result = Measurements(failed=failed)
    result.info = {name: w.info for name, w in workers.items()}
    result.batch = calibrate(workers[BASELINE], batch_ns, views)

    alive = dict(workers)
    for name, worker in list(alive.items()):
        try:
            for view in views:
                worker.run(view.path, result.batch[view.name])
        except WorkerError as exc:
            failed[name] = str(exc)
            del alive[name]

    names = list(alive)
    orders = round_orders(names, pairs)
    series: dict[str, dict[str, list[float]]] = {
        v.name: {n: [] for n in names} for v in views
    }
    for index, order in enumerate(orders):
        progress(f"round {index + 1}/{len(orders)}")
        for view in views:
            n = result.batch[view.name]
            for name in order:
                if name not in alive:
                    continue
                try:
                    series[view.name][name].append(alive[name].run(view.path, n) / n)
                except WorkerError as exc:
                    failed[name] = str(exc)
                    del alive[name]

    # A configuration that failed mid-run has fewer rounds: leave it out.
    result.per_request_ns = {
        view: {n: s for n, s in by_name.items() if n in alive}
        for view, by_name in series.items()
    }
    if collector is not None:
        progress("collector time, no forced collection")
        measure_collector(alive, collector, result, views)
    for name, worker in alive.items():
        try:
            answer = worker.ask({"cmd": "proof"})
            result.proofs[name] = (bool(answer["recorded"]), str(answer["text"]))
        except WorkerError as exc:
            result.proofs[name] = (False, f"no proof: {exc}")
    return result


def run(
    names: Sequence[str],
    python: str,
    work_dir: Path,
    pairs: int,
    batch_ns: int,
    collector: CollectorPlan | None = None,
    views: Sequence[View] = VIEWS,
) -> Measurements:
    """Start the workers, measure, and stop every worker however it ends.

    Every call starts fresh worker processes: one call is one launch.
    """

    def progress(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    failed: dict[str, str] = {}
    progress(f"starting {len(names)} workers")
    workers = start_workers(names, python, work_dir, failed)
    try:
        if BASELINE not in workers:
            raise WorkerError(failed.get(BASELINE, "the baseline did not start"))
        return measure(workers, pairs, batch_ns, progress, failed, collector, views)
    finally:
        for worker in workers.values():
            worker.stop()
