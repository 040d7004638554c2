"""Tests for perfprobe.testing.readiness: why queries would not be recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from perfprobe.db import installer
from perfprobe.testing import NotRecording, recording_problem
from perfprobe.testing.readiness import require_recording


@pytest.fixture
def uninstalled() -> Iterator[None]:
    """Remove the query instrumentation for the test, then put it back."""
    installer.uninstall()
    yield
    installer.install()


def test_the_demo_settings_record_queries() -> None:
    """With perfprobe installed and on, there is nothing to report."""
    assert recording_problem() is None
    require_recording("this test")


@pytest.mark.parametrize("key", ["ENABLED", "INSTRUMENT_DATABASE"])
def test_a_switch_turned_off_is_named(key: str) -> None:
    """Turning recording off names the setting that did it."""
    with override_settings(PERFPROBE={key: False}):
        assert recording_problem() == (
            f"PERFPROBE[{key!r}] is off, so no query is recorded"
        )


def test_invalid_settings_are_reported_with_their_error() -> None:
    """A PERFPROBE value that fails validation is quoted after 'perfprobe is off'."""
    with override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": -3}):
        problem = recording_problem()
    assert problem is not None
    assert problem.startswith("perfprobe is off: PERFPROBE['SLOW_QUERY_SECONDS']")


@pytest.mark.usefixtures("uninstalled")
def test_missing_instrumentation_is_reported() -> None:
    """Without the execute wrapper installed, the budgets refuse to run."""
    assert recording_problem() == ("perfprobe's query instrumentation is not installed")
    with pytest.raises(NotRecording, match=r"^this test cannot check queries: "):
        require_recording("this test")
