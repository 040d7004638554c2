"""Test the demo tests' own collection hook (tests/demo/conftest.py)."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

SUBPROCESS_TIMEOUT_S = 120
#: Two tests that read the module's demo run, the ``report`` fixture, and
#: carry no database mark of their own.
REPORT_READERS = [
    "tests/demo/test_performance_demo.py::test_full_demo_runs_all_five_scenarios_ok",
    "tests/demo/test_performance_demo.py::"
    "test_settings_show_time_scale_and_scaled_thresholds",
]


def test_tests_reading_the_demo_run_are_marked_for_the_database() -> None:
    """Selected alone, they still count as database tests, so the test DB is made.

    Without the mark pytest-django set up no test database, and the fixture
    ran the demo on the settings' own database, then flushed it.
    """
    collect = ["--collect-only", "-q", "-p", "no:cacheprovider", "-m", "django_db"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *collect, *REPORT_READERS],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected == REPORT_READERS
