"""Test that an invalid PERFPROBE is told once, by the checks or the log line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfprobe.apps import checks_will_report

from .test_checks import run_demo

PROBLEM = "PERFPROBE['METRICS_TOKEN'] is not"


def test_manage_py_check_prints_the_problem_once(tmp_path: Path) -> None:
    """`manage.py check` shows E001 and no start-up log line repeating it."""
    result = run_demo(tmp_path, "manage.py", "check")

    assert result.returncode == 1
    assert "(perfprobe.E001)" in result.stderr
    assert result.stderr.count(PROBLEM) == 1
    assert "perfprobe is off" not in result.stderr


def test_a_command_without_checks_still_logs_that_perfprobe_is_off(
    tmp_path: Path,
) -> None:
    """`manage.py shell` runs no checks, so the log line tells the user."""
    result = run_demo(tmp_path, "manage.py", "shell", "-c", "pass")

    assert result.returncode == 0
    assert f"perfprobe is off: {PROBLEM}" in result.stderr
    assert result.stderr.count(PROBLEM) == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["manage.py", "check"], True),
        (["manage.py", "runserver"], True),
        (["/srv/app/manage.py", "migrate"], True),
        (["manage.py", "migrate", "--skip-checks"], False),
        (["manage.py", "shell"], False),
        (["manage.py", "dbshell"], False),
        (["manage.py", "no_such_command"], False),
        (["manage.py"], False),
        (["gunicorn", "demo_site.wsgi"], False),
        (["pytest", "check"], False),
        # Only the checks of other tags, or none at all: the log line tells.
        (["manage.py", "check", "--tag", "security"], False),
        (["manage.py", "check", "--tag=models", "--deploy"], False),
        (["manage.py", "check", "-t", "perfprobe"], True),
        (["manage.py", "check", "--deploy"], True),
        (["manage.py", "check", "--list-tags"], False),
        (["manage.py", "migrate", "--help"], False),
        (["django-admin", "check"], True),
        (["/usr/lib/python3/site-packages/django/__main__.py", "check"], True),
    ],
)
def test_which_commands_report_through_the_checks(
    argv: list[str], expected: bool
) -> None:
    """Commands that run Django's checks report E001; the others do not."""
    assert checks_will_report(argv) is expected


def test_check_of_other_tags_still_logs_that_perfprobe_is_off(tmp_path: Path) -> None:
    """`check --tag security` runs no perfprobe check: the log line tells the user."""
    result = run_demo(tmp_path, "manage.py", "check", "--tag", "security")

    assert f"perfprobe is off: {PROBLEM}" in result.stderr
    assert "(perfprobe.E001)" not in result.stderr


_TURNED_ON_LATER_SCRIPT = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["perfprobe"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PERFPROBE=%r,
)
django.setup()
from django.db import connection
from django.test import override_settings
from perfprobe import monitor
from perfprobe.testing import assert_max_queries

def run_two_queries():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")

run_two_queries()  # while off: not recorded
with override_settings(PERFPROBE=%r):
    with monitor.scope("on") as scope:
        run_two_queries()
    with assert_max_queries(2):
        run_two_queries()
print(scope.summary.query_count, monitor.generate_report().summary["queries"])
"""


@pytest.mark.parametrize(
    ("at_start", "later"),
    [
        ({"ENABLED": False}, {}),
        ({"INSTRUMENT_DATABASE": False}, {}),
        ({"ENABLED": False}, {"ENABLED": True, "INSTRUMENT_DATABASE": True}),
    ],
)
def test_queries_are_recorded_once_the_settings_turn_perfprobe_on(
    at_start: dict[str, bool], later: dict[str, bool]
) -> None:
    """``override_settings`` turning perfprobe on records queries from then on.

    Started off, the query recorder was never installed: the scope counted
    no query, ``assert_max_queries`` refused to run ("not installed"), and
    the report had every timer but no query.
    """
    done = subprocess.run(
        [sys.executable, "-c", _TURNED_ON_LATER_SCRIPT % (at_start, later)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "4"]
