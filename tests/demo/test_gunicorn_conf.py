"""Tests for demo_site/gunicorn_conf.py: /metrics adds up two gunicorn workers.

The demo runs under gunicorn with two sync workers in Prometheus multi-process
mode, on a fresh SQLite database; the counts it reports are checked against
the requests sent and the queries each endpoint is known to run.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-scrape-token-0123"
REQUEST_COUNT = "perfprobe_http_request_duration_seconds_count"

# (path, route, status, queries per request, requests). The queries, read
# from apps/shop/views.py: the product list is one select_related query; an
# order is its row joined with the customer plus the prefetched lines with
# their products; a profile is the customer joined with the profile plus the
# prefetched recent orders; the dashboard runs three aggregates; an invoice
# runs an order's two and lazily loads the profile before it fails with 500.
PLAN = [
    ("/api/products/", "/api/products/", "200", 1, 12),
    ("/api/orders/1/", "/api/orders/<int:pk>/", "200", 2, 10),
    ("/api/users/profile/?customer_id=1", "/api/users/profile/", "200", 2, 10),
    ("/api/analytics/dashboard/", "/api/analytics/dashboard/", "200", 3, 4),
    ("/api/orders/1/invoice/", "/api/orders/<int:pk>/invoice/", "500", 3, 4),
]
TOTAL_REQUESTS = sum(n for *_, n in PLAN)
TOTAL_QUERIES = sum(q * n for *_, q, n in PLAN)
ROUTES = {route for _, route, *_ in PLAN}

PREPARE = """
import django
django.setup()
from django.core.management import call_command
from apps.shop.sample_data import ensure_sample_data
call_command("migrate", verbosity=0)
assert ensure_sample_data()
"""


@dataclass
class Server:
    """A running gunicorn master, its workers and its metrics directory."""

    process: subprocess.Popen[bytes]
    port: int
    workers: list[int]
    metrics_dir: Path
    log: Path


def base_env(tmp_path: Path) -> dict[str, str]:
    """Return the environment of the demo on a database in ``tmp_path``.

    Without DATABASE_URL: on a PostgreSQL test run it names the real (not
    the test) database, which the server must not touch.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PERFPROBE_", "PROMETHEUS", "GUNICORN", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="demo_site.settings",
        PERFPROBE_DEMO_DB=str(tmp_path / "demo.sqlite3"),
        # Small real delays keep a worker busy, so both take connections.
        SHOP_LATENCY_SCALE="0.05",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    )
    return env


def wait_for_log(server: Server, pattern: str, count: int) -> list[str]:
    """Return the first ``count`` matches of ``pattern`` in the log, waiting 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.findall(pattern, server.log.read_text())
        if len(found) >= count:
            return found[:count]
        if server.process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"gunicorn did not log {pattern!r}:\n{server.log.read_text()}")


def stop(process: subprocess.Popen[bytes], workers: list[int]) -> None:
    """Stop the master by pid (TERM, then KILL), then any worker left behind."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for pid in workers:
        try:
            worker = psutil.Process(pid)
            if worker.ppid() == process.pid:
                worker.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Start the demo under gunicorn, two sync workers, multi-process metrics."""
    env = base_env(tmp_path)
    # Prepared without the metrics settings: a migrate run in multi-process
    # mode would leave its queries in the directory.
    subprocess.run(
        [sys.executable, "-c", PREPARE], cwd=ROOT, env=env, check=True, timeout=120
    )
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        PERFPROBE_PROMETHEUS="1",
        PERFPROBE_METRICS_TOKEN=TOKEN,
    )
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "demo_site/gunicorn_conf.py",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Server(process, 0, [], metrics_dir, log)
    try:
        [port] = wait_for_log(running, r"Listening at: http://127\.0\.0\.1:(\d+)", 1)
        running.port = int(port)
        ready = wait_for_log(running, r"perfprobe demo worker (\d+) ready", 2)
        running.workers = [int(pid) for pid in ready]
        yield running
    finally:
        stop(process, running.workers)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Send one GET to the server; return its status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def scrape(port: int) -> list[Sample]:
    """Return every sample of one authorised scrape of /metrics."""
    status, body = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return [s for f in text_string_to_metric_families(body) for s in f.samples]


def planned_requests(samples: list[Sample]) -> float:
    """Return the request count summed over the planned routes and all workers."""
    return sum(
        s.value
        for s in samples
        if s.name == REQUEST_COUNT and s.labels.get("route") in ROUTES
    )


def memory_by_pid(samples: list[Sample]) -> dict[int, float]:
    """Return the memory gauge's value for each pid it reports."""
    return {
        int(s.labels["pid"]): s.value
        for s in samples
        if s.name == "perfprobe_process_resident_memory_bytes"
    }


def send_plan(port: int) -> list[tuple[str, int]]:
    """Send every planned request, eight at a time; return (path, status) pairs."""
    paths = [path for path, *_, n in PLAN for _ in range(n)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda path: get(port, path)[0], paths))
    return list(zip(paths, statuses, strict=True))


def test_metrics_add_up_both_workers(server: Server) -> None:
    """One scrape shows exactly the requests and queries sent; both workers served."""
    expected_status = {path: int(status) for path, _, status, *_ in PLAN}
    for path, status in send_plan(server.port):
        assert status == expected_status[path], path

    samples = scrape(server.port)

    assert planned_requests(samples) == TOTAL_REQUESTS
    for _, route, status, _, n in PLAN:
        labels = {"method": "GET", "route": route, "status": status}
        counted = [
            s.value for s in samples if s.name == REQUEST_COUNT and s.labels == labels
        ]
        assert counted == [n], route
    queries = {s.name: s.value for s in samples if s.labels == {"alias": "default"}}
    assert queries["perfprobe_db_queries_total"] == TOTAL_QUERIES
    assert queries["perfprobe_db_query_duration_seconds_count"] == TOTAL_QUERIES

    # Each worker wrote its own file; both served some of the requests.
    served: dict[int, float] = {}
    for pid in server.workers:
        own = MultiProcessCollector.merge(
            [str(server.metrics_dir / f"histogram_{pid}.db")]
        )
        served[pid] = planned_requests([s for m in own for s in m.samples])
    assert all(count > 0 for count in served.values()), served
    assert sum(served.values()) == TOTAL_REQUESTS

    memory = memory_by_pid(samples)
    assert set(memory) == set(server.workers)
    for pid, rss_bytes in memory.items():
        assert rss_bytes == pytest.approx(
            psutil.Process(pid).memory_info().rss, rel=0.5
        )


def test_a_dead_workers_counts_stay_and_its_memory_goes(server: Server) -> None:
    """After a worker is killed, its requests still count but its gauge is gone."""
    for path, status in send_plan(server.port):
        assert status in (200, 500), path
    killed, survivor = server.workers
    os.kill(killed, signal.SIGKILL)
    [replacement] = wait_for_log(server, r"perfprobe demo worker (\d+) ready", 3)[2:]
    server.workers.append(int(replacement))

    samples = scrape(server.port)

    assert planned_requests(samples) == TOTAL_REQUESTS
    assert set(memory_by_pid(samples)) == {survivor, int(replacement)}
    assert not (server.metrics_dir / f"gauge_liveall_{killed}.db").exists()


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("two", "two"),
        ("0", "0"),
        ("-1", "-1"),
        ("1.5", "1.5"),
        ("+3", "+3"),
        # int() takes these three: 30, 3 in Arabic-Indic digits, 129.
        ("3_0", "3_0"),
        ("\u0663", "\u0663"),
        ("129", "129"),
        ("9" * 5000, "9" * 20 + "..."),
    ],
)
def test_a_bad_worker_count_is_one_line_and_exit_1(given: str, shown: str) -> None:
    """GUNICORN_WORKERS that is no count from 1 to 128: one short line, no traceback."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "demo_site/gunicorn_conf.py",
            "--check-config",
        ],
        cwd=ROOT,
        env=dict(os.environ, GUNICORN_WORKERS=given),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"GUNICORN_WORKERS={shown!r}: expected a whole number of workers from 1 to 128."
    ], result.stderr


@pytest.mark.parametrize(
    ("given", "expected"), [("", 2), ("3", 3), (" 4 ", 4), ("128", 128)]
)
def test_the_worker_count_is_read_from_the_environment(
    given: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset or empty is two workers; a count is taken as given."""
    import runpy

    monkeypatch.setenv("GUNICORN_WORKERS", given)
    config = runpy.run_path(str(ROOT / "demo_site" / "gunicorn_conf.py"))
    assert config["workers"] == expected
