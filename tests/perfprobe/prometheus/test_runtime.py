"""Tests for perfprobe.prometheus.runtime: one exporter per process, imported lazily."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings
from prometheus_client import REGISTRY, Counter
from pytest_django import Settings

from perfprobe import PerformanceMonitor, monitoring
from perfprobe.prometheus import runtime

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
ITEMS = {"method": "GET", "route": "/items/<int:pk>/", "status": "200"}


@pytest.fixture(autouse=True)
def prometheus_on(settings: Settings) -> Iterator[None]:
    """Turn PROMETHEUS on, serve the test views, and uninstall afterwards."""
    settings.PERFPROBE = {"PROMETHEUS": True}
    settings.ROOT_URLCONF = "tests.perfprobe.prometheus.urls"
    yield
    runtime.uninstall()


def items_count() -> float:
    """Return the process-wide count of GET /items/<int:pk>/ requests."""
    name = "perfprobe_http_request_duration_seconds_count"
    return REGISTRY.get_sample_value(name, ITEMS) or 0.0


def test_install_twice_listens_once(client: Client) -> None:
    """A second install() returns the same exporter, and a request counts once."""
    first = runtime.install()
    assert runtime.install() is first
    before = items_count()
    client.get("/items/1/")
    assert items_count() - before == 1


def test_install_follows_a_replaced_monitor(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After perfprobe.monitor is replaced, install() listens to the new one only."""
    exporter = runtime.install()
    assert exporter is not None
    replacement = PerformanceMonitor()
    monkeypatch.setattr(monitoring, "monitor", replacement)
    assert runtime.install() is exporter
    assert exporter.collector is replacement.collector

    before = items_count()
    client.get("/items/1/")
    assert items_count() - before == 1
    assert ("GET", "/items/<int:pk>/") in replacement.collector.snapshot().endpoints


def test_without_the_client_install_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing prometheus_client is one logged error naming the extra."""
    # None in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setattr(runtime, "_exporter", None)
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        assert runtime.install() is None
        assert runtime.install() is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "django-perfprobe[prometheus]" in messages[0]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Take the exporter's metrics out of REGISTRY; put them back afterwards."""
    runtime.install()
    runtime.uninstall()
    ours = {
        id(c): c
        for name, c in list(REGISTRY._names_to_collectors.items())
        if name.startswith("perfprobe_")
    }
    for collector in ours.values():
        REGISTRY.unregister(collector)
    monkeypatch.setattr(runtime, "_exporter", None)
    yield
    runtime.uninstall()
    for name, c in list(REGISTRY._names_to_collectors.items()):
        if name.startswith("perfprobe_") and c in REGISTRY._collector_to_names:
            REGISTRY.unregister(c)
    for collector in ours.values():
        REGISTRY.register(collector)


def test_all_or_nothing_a_failed_install_leaves_a_later_one_possible(
    clean_registry: None,
) -> None:
    """After a name clash goes away, the next install() starts the exporter."""
    clash = Counter("perfprobe_db_queries", "someone else's", registry=REGISTRY)
    try:
        assert runtime.install() is None
        assert "perfprobe_http_request_duration_seconds" not in (
            REGISTRY._names_to_collectors
        )
    finally:
        REGISTRY.unregister(clash)
    assert runtime.install() is not None


def test_failures_logged_once_a_name_clash_in_the_registry(
    client: Client, clean_registry: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Four scrapes while another library holds a perfprobe name: one ERROR."""
    clash = Counter("perfprobe_db_queries", "someone else's", registry=REGISTRY)
    token = {"Authorization": "Bearer " + "t" * 20}
    try:
        with (
            override_settings(
                PERFPROBE={"PROMETHEUS": True, "METRICS_TOKEN": "t" * 20}
            ),
            caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"),
        ):
            for _ in range(4):
                client.get("/metrics", headers=token)
    finally:
        REGISTRY.unregister(clash)
    errors = [r for r in caplog.records if r.name == "perfprobe.prometheus"]
    assert len(errors) == 1


def test_render_uses_the_text_format_by_default() -> None:
    """Without an Accept header the text format 0.0.4 is rendered."""
    body, content_type = runtime.render(None)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"perfprobe_process_resident_memory_bytes " in body


PROBE = """
import sys
import django
django.setup()
from django.test import Client
from perfprobe import monitor
client = Client()
statuses = [client.get("/metrics").status_code, client.get("/nowhere/").status_code]
batches = monitor.collector._query_batch_listeners
print(statuses, "prometheus_client" in sys.modules, bool(batches))
"""


def run_probe(**environ: str) -> str:
    """Run PROBE in a fresh demo process and return what it printed."""
    env = {
        k: v
        for k, v in os.environ.items()
        # DATABASE_URL of a PostgreSQL test run names the real database.
        if not k.startswith(("PERFPROBE_", "PROMETHEUS", "DATABASE_URL"))
    }
    env.update(DJANGO_SETTINGS_MODULE="demo_site.settings", **environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_with_the_setting_off_nothing_is_imported_or_listening() -> None:
    """A demo process with PROMETHEUS off never imports the client; /metrics is 404."""
    assert run_probe() == "[404, 404] False False"


def test_with_the_setting_on_the_exporter_listens_from_start() -> None:
    """PERFPROBE_PROMETHEUS=1 makes the demo import the client and listen at ready."""
    token = "t" * 20
    out = run_probe(PERFPROBE_PROMETHEUS="1", PERFPROBE_METRICS_TOKEN=token)
    assert out == "[404, 404] True True"


EXITING = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    for index in range(10):
        cursor.execute("SELECT %s", [index])
"""


def test_queries_waiting_when_a_process_exits_reach_the_metrics_files(
    tmp_path: Path,
) -> None:
    """A command's ten queries, run outside any request, are counted at its exit.

    In multi-process mode a process that ended (a management command, a
    worker recycled) with fewer than QUERY_BATCH raw queries waiting in a
    thread's log never counted them: no scrape reaches a process gone.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PERFPROBE_", "PROMETHEUS", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="demo_site.settings",
        PERFPROBE_PROMETHEUS="1",
        PERFPROBE_DEMO_DB=str(tmp_path / "exiting.sqlite3"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    )
    subprocess.run(
        [sys.executable, "-c", EXITING], cwd=ROOT, env=env, timeout=60, check=True
    )

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics))  # type: ignore[no-untyped-call]
    name = "perfprobe_db_queries_total"
    assert registry.get_sample_value(name, {"alias": "default"}) == 10
