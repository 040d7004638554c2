"""Tests for perfprobe.checks: each system check fires on its misconfiguration only."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks as django_checks
from django.test import override_settings

from perfprobe import checks

MIDDLEWARE = checks.MIDDLEWARE
SECURITY = "django.middleware.security.SecurityMiddleware"
AUTH = checks.AUTH_MIDDLEWARE
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
TOKEN = "r" * 32


def ids(messages: list[Any]) -> list[str]:
    """Return the ids of ``messages``, each checked to carry a hint."""
    assert all(m.hint for m in messages)
    return [m.id for m in messages]


def test_invalid_settings_are_e001() -> None:
    """A bad value is E001; the other checks stay quiet rather than guess."""
    with override_settings(PERFPROBE={"SAMPLE_RATE": 2}, DEBUG=False):
        assert ids(checks.check_settings()) == ["perfprobe.E001"]
        assert checks.check_sampling() == []
        assert checks.check_personal_data() == []
    assert checks.check_settings() == []


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        ([SECURITY], ["perfprobe.W001"]),
        ([SECURITY, MIDDLEWARE], ["perfprobe.W002"]),
        ([MIDDLEWARE, SECURITY], []),
    ],
)
def test_middleware_missing_or_not_first(
    middleware: list[str], expected: list[str]
) -> None:
    """Missing middleware is W001; present but below another one is W002."""
    with override_settings(MIDDLEWARE=middleware):
        assert ids(checks.check_middleware()) == expected


def test_a_misspelt_middleware_path_is_named_in_w001() -> None:
    """The check cannot import-test it, but it can point at the lookalike."""
    typo = "perfprobe.middleware.PerfMiddleware"
    with override_settings(MIDDLEWARE=[typo, SECURITY]):
        (message,) = checks.check_middleware()
    assert message.id == "perfprobe.W001"
    assert message.hint is not None
    assert f"MIDDLEWARE has '{typo}'" in message.hint
    assert f"did you mean '{MIDDLEWARE}'" in message.hint
    with override_settings(MIDDLEWARE=[SECURITY]):
        (plain,) = checks.check_middleware()
    assert plain.hint == f"Add '{MIDDLEWARE}' near the top of MIDDLEWARE."


@pytest.mark.parametrize(
    ("perfprobe", "expected"),
    [
        ({"SAMPLE_RATE": 0.0}, ["perfprobe.W003"]),
        ({"SAMPLE_RATE": 0.0, "MONITOR_REQUESTS": False}, []),
        ({"SAMPLE_RATE": 0.0, "ENABLED": False}, []),
        ({"SAMPLE_RATE": 0.01}, []),
    ],
)
def test_sample_rate_zero_while_monitoring(
    perfprobe: dict[str, Any], expected: list[str]
) -> None:
    """SAMPLE_RATE 0 warns only while requests are meant to be monitored."""
    with override_settings(PERFPROBE=perfprobe):
        assert ids(checks.check_sampling()) == expected


def test_prometheus_without_its_client_is_e002(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PROMETHEUS on with prometheus_client missing is E002; off, nothing."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "prometheus_client" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    with override_settings(PERFPROBE={"PROMETHEUS": True}):
        assert ids(checks.check_prometheus()) == ["perfprobe.E002"]
    assert checks.check_prometheus() == []


def test_prometheus_with_its_client_installed_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With prometheus_client installed (it is, here) and no env var: no error."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    with override_settings(PERFPROBE={"PROMETHEUS": True}):
        assert checks.check_prometheus() == []


def test_multiprocess_dir_must_be_an_existing_writable_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing directory or a file is E003; an existing directory passes."""
    a_file = tmp_path / "file"
    a_file.write_text("")
    with override_settings(PERFPROBE={"PROMETHEUS": True}):
        for bad in (tmp_path / "missing", a_file):
            monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(bad))
            assert ids(checks.check_prometheus()) == ["perfprobe.E003"]
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        assert checks.check_prometheus() == []
    # Without PROMETHEUS perfprobe does not use the directory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    assert checks.check_prometheus() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_multiprocess_dir_is_e003(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A directory this process cannot write to is E003."""
    tmp_path.chmod(0o500)
    try:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        with override_settings(PERFPROBE={"PROMETHEUS": True}):
            assert ids(checks.check_prometheus()) == ["perfprobe.E003"]
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize(
    ("perfprobe", "debug", "expected"),
    [
        ({"STORE_SQL_PARAMETERS": True}, False, ["perfprobe.W004"]),
        ({"STORE_QUERY_STRINGS": True}, False, ["perfprobe.W005"]),
        (
            {"STORE_SQL_PARAMETERS": True, "STORE_QUERY_STRINGS": True},
            False,
            ["perfprobe.W004", "perfprobe.W005"],
        ),
        ({"STORE_SQL_PARAMETERS": True, "STORE_QUERY_STRINGS": True}, True, []),
        ({}, False, []),
    ],
)
def test_personal_data_kept_with_debug_off(
    perfprobe: dict[str, Any], debug: bool, expected: list[str]
) -> None:
    """Storing parameters or query strings warns only when DEBUG is off."""
    with override_settings(PERFPROBE=perfprobe, DEBUG=debug):
        assert ids(checks.check_personal_data()) == expected


@pytest.mark.parametrize(
    ("perfprobe", "expected"),
    [
        ({"REPORT_TOKEN": TOKEN, "METRICS_TOKEN": TOKEN}, ["perfprobe.W006"]),
        ({"REPORT_TOKEN": TOKEN, "METRICS_TOKEN": "m" * 32}, []),
        ({"REPORT_TOKEN": TOKEN}, []),
        ({}, []),
    ],
)
def test_one_token_for_report_and_metrics(
    perfprobe: dict[str, Any], expected: list[str]
) -> None:
    """The same bearer token for the report and /metrics is W006."""
    with override_settings(PERFPROBE=perfprobe):
        assert ids(checks.check_tokens()) == expected


@pytest.mark.parametrize(
    ("perfprobe", "middleware", "urlconf", "expected"),
    [
        ({}, [MIDDLEWARE], "demo_site.urls", ["perfprobe.W007"]),
        ({"REPORT_TOKEN": TOKEN}, [MIDDLEWARE], "demo_site.urls", []),
        ({}, [MIDDLEWARE, SESSIONS, AUTH], "demo_site.urls", []),
        ({}, [MIDDLEWARE], "tests.perfprobe.middleware_urls", []),
    ],
)
def test_a_mounted_report_nobody_can_reach(
    perfprobe: dict[str, Any], middleware: list[str], urlconf: str, expected: list[str]
) -> None:
    """perfprobe.urls mounted with no token and no AuthenticationMiddleware is W007."""
    with override_settings(
        PERFPROBE=perfprobe, MIDDLEWARE=middleware, ROOT_URLCONF=urlconf
    ):
        assert ids(checks.check_report_reachable()) == expected


def test_the_reachability_check_runs_with_deploy_only() -> None:
    """W007 and W009 are deployment checks: `check --deploy` runs them, `check` not."""
    registry = django_checks.registry.registry
    assert checks.check_report_reachable in registry.get_checks(
        include_deployment_checks=True
    )
    assert checks.check_report_reachable not in registry.get_checks()
    assert checks.check_sampling in registry.get_checks()
    assert checks.check_metrics_reachable in registry.get_checks(
        include_deployment_checks=True
    )
    assert checks.check_metrics_reachable not in registry.get_checks()


@pytest.mark.parametrize(
    ("perfprobe", "expected"),
    [
        ({"EXCLUDE_PATHS": ["/"]}, ["perfprobe.W008"]),
        ({"EXCLUDE_PATHS": ["/healthz", "/"]}, ["perfprobe.W008"]),
        (
            {"EXCLUDE_PATHS": ["/"], "SAMPLE_RATE": 0.0},
            ["perfprobe.W003", "perfprobe.W008"],
        ),
        ({"EXCLUDE_PATHS": ["/healthz", "/static/"]}, []),
        ({"EXCLUDE_PATHS": ["/"], "MONITOR_REQUESTS": False}, []),
    ],
)
def test_exclude_paths_that_exclude_everything(
    perfprobe: dict[str, Any], expected: list[str]
) -> None:
    """An EXCLUDE_PATHS prefix "/" leaves every request out, which is W008."""
    with override_settings(PERFPROBE=perfprobe):
        assert ids(checks.check_sampling()) == expected


@pytest.mark.parametrize(
    ("perfprobe", "middleware", "expected"),
    [
        ({"PROMETHEUS": True, "REPORT_TOKEN": TOKEN}, [MIDDLEWARE], ["perfprobe.W009"]),
        ({"PROMETHEUS": True, "METRICS_TOKEN": TOKEN}, [MIDDLEWARE], []),
        ({"PROMETHEUS": True}, [MIDDLEWARE, SESSIONS, AUTH], []),
        ({"PROMETHEUS": False}, [MIDDLEWARE], []),
        ({"PROMETHEUS": True, "ENABLED": False}, [MIDDLEWARE], []),
    ],
)
def test_metrics_nobody_can_scrape(
    perfprobe: dict[str, Any], middleware: list[str], expected: list[str]
) -> None:
    """PROMETHEUS on with no METRICS_TOKEN and no AuthenticationMiddleware is W009."""
    with override_settings(PERFPROBE=perfprobe, MIDDLEWARE=middleware):
        assert ids(checks.check_metrics_reachable()) == expected


# -- an invalid PERFPROBE at start-up, in a fresh demo process ---------------------

ROOT = Path(__file__).resolve().parents[2]
#: Shorter than the 16 characters a bearer token needs: an invalid PERFPROBE.
BAD_TOKEN = "short"


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in the demo project with an invalid METRICS_TOKEN."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("PERFPROBE_")
    }
    env["PERFPROBE_METRICS_TOKEN"] = BAD_TOKEN
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    env["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_py_check_reports_an_invalid_startup_setting_as_e001(
    tmp_path: Path,
) -> None:
    """`manage.py check` shows E001 naming the key, exits 1, and prints no traceback."""
    result = run_demo(tmp_path, "manage.py", "check")

    assert result.returncode == 1
    assert "(perfprobe.E001) PERFPROBE['METRICS_TOKEN'] is not" in result.stderr
    assert "HINT:" in result.stderr
    assert "Traceback" not in result.stderr
    assert BAD_TOKEN not in result.stderr.replace("'METRICS_TOKEN'", "")


def test_manage_py_migrate_refuses_an_invalid_startup_setting(
    tmp_path: Path,
) -> None:
    """`manage.py migrate` stops at E001 before touching the database."""
    result = run_demo(tmp_path, "manage.py", "migrate")

    assert result.returncode == 1
    assert "(perfprobe.E001) PERFPROBE['METRICS_TOKEN']" in result.stderr
    assert "Traceback" not in result.stderr
    database = tmp_path / "demo.sqlite3"
    if database.exists():
        with sqlite3.connect(database) as db:
            tables = db.execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == []


def test_a_server_refuses_to_start_with_an_invalid_startup_setting(
    tmp_path: Path,
) -> None:
    """Loading the WSGI application fails with one line naming the key."""
    result = run_demo(tmp_path, "-c", "import demo_site.wsgi")

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        "django.core.exceptions.ImproperlyConfigured: PERFPROBE['METRICS_TOKEN']"
    )
