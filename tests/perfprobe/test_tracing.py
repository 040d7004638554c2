"""Tests for perfprobe.tracing: when spans are made, and that they never hurt."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from pytest_django import Settings

from perfprobe import PerformanceMonitor, tracing
from perfprobe.events import OperationEvent, QueryEvent, RequestEvent

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter(
    span_exporter: InMemorySpanExporter, settings: Settings
) -> InMemorySpanExporter:
    """Capture spans of requests to the middleware tests' small views."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    return span_exporter


def counts(mon: PerformanceMonitor) -> tuple[int, int, int]:
    """Return how many requests, queries and operations ``mon`` holds."""
    events = mon.collector.snapshot().recent_events
    return (
        sum(isinstance(e, RequestEvent) for e in events),
        sum(isinstance(e, QueryEvent) for e in events),
        sum(isinstance(e, OperationEvent) for e in events),
    )


def test_without_a_provider_nothing_is_traced_and_nothing_fails(
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the API's default proxy provider, no span is current and no error logged."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    caplog.set_level(logging.DEBUG, logger="perfprobe")

    response = Client().get("/three/")
    with fresh_monitor.measure_execution_time("block"):
        inside = trace.get_current_span().get_span_context().is_valid

    assert response.status_code == 200
    assert not inside
    assert tracing.get_tracer() is None
    assert counts(fresh_monitor) == (1, 3, 1)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("key", ["OPENTELEMETRY", "ENABLED"])
def test_a_setting_turns_spans_off(
    exporter: InMemorySpanExporter,
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    key: str,
) -> None:
    """OPENTELEMETRY or ENABLED off: no spans, and the probes stop asking."""
    settings.PERFPROBE = {key: False}

    Client().get("/three/")
    with fresh_monitor.measure_execution_time("block"):
        pass

    assert exporter.get_finished_spans() == ()
    if key == "OPENTELEMETRY":
        # With ENABLED off the probes return before they reach tracing at
        # all, so only this switch is decided (and remembered) there.
        assert tracing.active is False


def test_turning_the_setting_back_on_traces_again(
    exporter: InMemorySpanExporter, settings: Settings
) -> None:
    """A settings change is seen at the next probe: off, then on again."""
    settings.PERFPROBE = {"OPENTELEMETRY": False}
    Client().get("/three/")
    settings.PERFPROBE = {"OPENTELEMETRY": True}
    Client().get("/three/")

    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["GET /three/", "SELECT", "SELECT", "SELECT"]


class _BrokenTracer:
    """A tracer whose every span fails to start."""

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer broken")


class _BrokenProvider(trace.TracerProvider):
    """A provider that hands out a broken tracer."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return _BrokenTracer()


def test_a_failing_tracer_never_breaks_the_request(
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Spans that cannot start are logged by perfprobe.tracing; all else goes on."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    tracing.use_tracer_provider(_BrokenProvider())
    try:
        response = Client().get("/three/")
        error = KeyError("user's")
        with pytest.raises(KeyError) as caught:
            with fresh_monitor.measure_execution_time("block"):
                raise error
    finally:
        tracing.use_tracer_provider(None)

    assert response.status_code == 200
    assert caught.value is error
    assert counts(fresh_monitor) == (1, 3, 1)
    failures = {
        r.getMessage()
        for r in caplog.records
        if r.name == "perfprobe.tracing" and r.levelno >= logging.ERROR
    }
    once = " (logged once; later failures of this kind at DEBUG)"
    assert failures == {
        "perfprobe failed to start a request span" + once,
        "perfprobe failed to emit a span for a query" + once,
        "perfprobe failed to start a span for 'block'" + once,
    }


def test_a_missing_provider_is_looked_for_again_only_after_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While no provider is set, the API is asked once per RECHECK_S, not per probe."""
    asked: list[int] = []
    real = trace.get_tracer_provider

    def counting() -> trace.TracerProvider:
        asked.append(1)
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    monkeypatch.setattr(tracing, "RECHECK_S", 3600.0)
    tracing.reset()
    try:
        for _ in range(50):
            assert tracing.get_tracer() is None
    finally:
        tracing.reset()
    assert len(asked) == 1


def test_a_look_again_does_not_search_the_path_for_opentelemetry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With opentelemetry imported, the once-a-second look skips find_spec."""
    searched: list[str] = []
    real = importlib.util.find_spec

    def counting(name: str, *args: Any) -> Any:
        searched.append(name)
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", counting)
    # Every call is a new look: no provider is set in this test process.
    monkeypatch.setattr(tracing, "RECHECK_S", 0.0)
    tracing.reset()
    try:
        for _ in range(5):
            assert tracing.get_tracer() is None
    finally:
        tracing.reset()
    assert "opentelemetry" not in searched


def test_the_time_before_the_next_look_is_published_for_the_middleware(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no provider, no_tracer_until_ns is RECHECK_S ahead; reset clears it."""
    monkeypatch.setattr(tracing, "RECHECK_S", 60.0)
    tracing.reset()
    try:
        before = time.perf_counter_ns()
        assert tracing.get_tracer() is None
        ahead_s = (tracing.no_tracer_until_ns - before) / 1e9
        assert 59.0 < ahead_s <= 61.0
    finally:
        tracing.reset()
    assert tracing.no_tracer_until_ns == 0


SUBPROCESS_SETUP = """
import json, sys, time
{prelude}
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["perfprobe"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    MIDDLEWARE=["perfprobe.middleware.PerformanceMiddleware"],
    ROOT_URLCONF="tests.perfprobe.middleware_urls",
    ALLOWED_HOSTS=["testserver"],
)
django.setup()
from django.test import Client
from perfprobe import monitor, tracing
from perfprobe.events import OperationEvent, QueryEvent, RequestEvent

def counts():
    events = monitor.collector.snapshot().recent_events
    return [sum(isinstance(e, kind) for e in events)
            for kind in (RequestEvent, QueryEvent, OperationEvent)]
"""


def run_script(body: str, prelude: str = "") -> dict[str, Any]:
    """Run ``body`` in a fresh interpreter with Django set up; return its JSON.

    ``prelude`` runs first, before Django or perfprobe is imported.
    """
    setup = SUBPROCESS_SETUP.replace("{prelude}", textwrap.dedent(prelude))
    script = setup + textwrap.dedent(body)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    # Nothing logged either: logging's last-resort handler would print here.
    assert completed.stderr == ""
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def test_without_opentelemetry_everything_works_and_nothing_imports_it() -> None:
    """With opentelemetry unimportable, requests, blocks and queries record as ever."""
    hide_opentelemetry = """
        import importlib.abc

        class Unimportable(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(f"{name} is hidden by the test")
                return None

        sys.meta_path.insert(0, Unimportable())
        assert not any(n.startswith("opentelemetry") for n in sys.modules)
        """
    result = run_script(
        """
        statuses = [Client().get("/three/").status_code,
                    Client().get("/async/timed/2/").status_code]
        with monitor.measure_execution_time("block"):
            pass
        loaded = sorted(n for n in sys.modules if n.startswith("opentelemetry"))
        print(json.dumps({"statuses": statuses, "counts": counts(),
                          "loaded": loaded, "active": tracing.active}))
        """,
        prelude=hide_opentelemetry,
    )
    # /three/ runs three queries; /async/timed/2/ two timed steps; then one block.
    assert result == {
        "statuses": [200, 200],
        "counts": [2, 3, 3],
        "loaded": [],
        "active": False,
    }


def test_opentelemetry_blocked_in_sys_modules_is_no_failure() -> None:
    """``sys.modules["opentelemetry"] = None`` (the usual way to block an
    import) reads as not installed, quietly, as find_spec says: no failure
    is logged for a name that is in sys.modules but cannot be imported."""
    result = run_script(
        """
        with monitor.measure_execution_time("block"):
            pass
        statuses = [Client().get("/three/").status_code]
        print(json.dumps({"statuses": statuses, "active": tracing.active}))
        """,
        prelude='sys.modules["opentelemetry"] = None',
    )
    # run_script also checks that nothing reached stderr (no logged failure).
    assert result == {"statuses": [200], "active": False}


def test_a_global_provider_set_after_start_up_is_found() -> None:
    """Spans start once the application sets its provider, however late."""
    result = run_script(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        tracing.RECHECK_S = 0.05
        Client().get("/three/")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        time.sleep(0.1)
        Client().get("/three/")
        names = sorted(s.name for s in exporter.get_finished_spans())
        print(json.dumps({"names": names, "counts": counts()}))
        """
    )
    assert result == {
        "names": ["GET /three/", "SELECT", "SELECT", "SELECT"],
        "counts": [2, 6, 0],
    }


def test_a_failing_tracer_is_logged_once_per_kind(
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five requests through a broken tracer log each kind of failure once at ERROR."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    tracing.use_tracer_provider(_BrokenProvider())
    try:
        with caplog.at_level(logging.DEBUG, logger="perfprobe"):
            for _ in range(5):
                assert Client().get("/three/").status_code == 200
    finally:
        tracing.use_tracer_provider(None)

    tracing_records = [r for r in caplog.records if r.name == "perfprobe.tracing"]
    errors = [r for r in tracing_records if r.levelno >= logging.ERROR]
    # Two kinds: the request span and the query spans (three a request).
    assert len(errors) == 2
    later = [r for r in tracing_records if hasattr(r, "failure_count")]
    assert {r.levelno for r in later} == {logging.DEBUG}
    assert len(later) == (5 - 1) + (15 - 1)
