"""Write the perfprobe report of a whole pytest session (``--perfprobe-report``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from pathlib import Path

import pytest

from . import monitoring
from .report.jsonio import check_regular_target, probe_folder
from .suppression import request_mark
from .testing.readiness import recording_problem

logger = logging.getLogger("perfprobe.pytest")

_ACCEPTED = "expected the path of a JSON file in an existing, writable folder"


def _reason(exc: Exception) -> str:
    # str() of an OSError made with an errno starts "[Errno 2] ".
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def report_target(raw: str, base: Path) -> Path:
    """Return ``raw`` as an absolute path the report can be written to.

    A relative path is taken from ``base``, the folder pytest was started
    in, since tests may change the working directory. Raise
    ``pytest.UsageError`` (one line: the option, the value, what is
    accepted) when it cannot be.
    """
    if not raw.strip():
        raise pytest.UsageError(f"--perfprobe-report is empty; {_ACCEPTED}")
    target = Path(base, os.path.expanduser(raw))
    folder = target.parent
    problem = None
    if target.is_dir():
        problem = "it is a folder"
    elif not folder.is_dir():
        problem = f"the folder {folder} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"the folder {folder} is not writable"
    else:
        try:
            check_regular_target(target)
            # Permission bits do not tell (root passes os.access on /proc):
            # a file made and removed there does.
            probe_folder(folder)
        except OSError as exc:
            problem = _reason(exc)
    if problem is not None:
        raise pytest.UsageError(f"--perfprobe-report {raw}: {problem}; {_ACCEPTED}")
    return target


def refuse_distribution(numprocesses: object, is_worker: bool) -> None:
    """Raise ``pytest.UsageError`` when pytest-xdist spreads the tests out.

    Each worker process has its own monitor, and the reports of several
    processes are not merged: the file would hold one worker's tests, or none.
    """
    if numprocesses or is_worker:
        raise pytest.UsageError(
            "--perfprobe-report cannot merge the reports of pytest-xdist "
            "workers; run the session without -n to write one"
        )


class SessionReport:
    """Scope every test and write the session's report when the session ends.

    The test database that pytest-django creates is kept out of the data:
    its migrations are not the tests' queries. A report that cannot be
    written leaves any existing file untouched and makes the session exit
    with status 4 (usage error), unless tests already failed.
    """

    NAME = "perfprobe-session-report"

    def __init__(self, target: Path) -> None:
        self.target = target
        self.outcome: str | None = None

    @pytest.fixture(autouse=True)
    def _perfprobe_test_scope(self, request: pytest.FixtureRequest) -> None:
        # Without recording the session fails at its end with the reason;
        # failing every test on the way would only repeat it.
        if recording_problem() is None:
            request.getfixturevalue("perfprobe")

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        """Record nothing while pytest-django creates the test database."""
        if fixturedef.argname != "django_db_setup":
            return (yield)
        with request_mark(suppressed=True):
            return (yield)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Stop before any test runs if Django is set up without recording."""
        from django.apps import apps

        # Not set up yet: a conftest may still set Django up; the end of the
        # session checks again.
        problem = recording_problem() if apps.ready else None
        if problem is not None:
            raise pytest.UsageError(f"--perfprobe-report: {problem}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Build the report from everything recorded and write it atomically."""
        problem = recording_problem()
        if problem is not None:
            self._failed(session, f"no report written to {self.target}: {problem}")
            return
        try:
            report = monitoring.monitor.generate_report(
                title="perfprobe report: pytest session"
            )
            report.write_json(self.target)
        except (OSError, ValueError) as exc:
            self._failed(session, _reason(exc))
            return
        except Exception as exc:
            # A fault inside perfprobe must not turn the session's own
            # outcome into pytest's INTERNALERROR traceback.
            logger.exception("perfprobe failed to build the session report")
            self._failed(session, f"the report could not be built: {exc!r}")
            return
        self.outcome = f"perfprobe: session report written to {self.target}"

    def _failed(self, session: pytest.Session, message: str) -> None:
        self.outcome = f"perfprobe: {message}"
        if session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """Say where the report went, or why there is none."""
        if self.outcome is not None:
            terminalreporter.write_line(self.outcome)
