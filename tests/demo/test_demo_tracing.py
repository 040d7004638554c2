"""Tests for demo_site.tracing: the demo's opt-in console tracer provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import demo_site.wsgi
from django.test import Client
print(Client().get("/api/async/sleep/?ms=0").status_code)
"""


def run_demo(traces: str | None) -> subprocess.CompletedProcess[str]:
    """Serve one request through demo_site.wsgi in a fresh interpreter."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PERFPROBE_", "DATABASE_URL", "DJANGO_SETTINGS"))
    }
    if traces is not None:
        env["PERFPROBE_DEMO_TRACES"] = traces
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_console_traces_print_the_request_span() -> None:
    """PERFPROBE_DEMO_TRACES=console prints the request's span, named by route."""
    done = run_demo("console")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200"]
    assert '"name": "GET /api/async/sleep/"' in done.stderr


def test_without_the_variable_there_are_no_spans() -> None:
    """Unset, the demo configures no provider and prints no span."""
    done = run_demo(None)
    assert done.returncode == 0, done.stderr
    assert '"name"' not in done.stdout + done.stderr


def test_an_unknown_value_is_one_line_and_exit_1() -> None:
    """Any value but ``console`` stops the demo with one line naming the variable."""
    done = run_demo("jaeger")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "PERFPROBE_DEMO_TRACES='jaeger': expected 'console' or nothing"
    ]
