"""Run the demo's ``manage.py`` in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

#: Generous: a child run migrates a fresh SQLite file before its command.
SUBPROCESS_TIMEOUT_S = 120


def child_env(
    database: Path | None = None, *, drop: Iterable[str] = ()
) -> dict[str, str]:
    """Return this process's environment for a ``manage.py`` child.

    Without DATABASE_URL, so that a PostgreSQL test run never points the
    child at the real (non-test) database it names, nor the variables in
    ``drop``; with ``database`` as the demo's SQLite file when given.
    """
    left_out = {"DATABASE_URL", *drop}
    env = {key: value for key, value in os.environ.items() if key not in left_out}
    if database is not None:
        env["PERFPROBE_DEMO_DB"] = str(database)
    return env


def manage(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py args`` in a child process (by default with ``child_env()``)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


def first_line_then_hang_up(
    *args: str, env: dict[str, str] | None = None
) -> tuple[bytes, int, bytes]:
    """Run ``manage.py args``, read one line of its stdout and close the pipe.

    Return that line, the child's exit status and what it wrote on stderr:
    what a reader such as ``| head -1`` leaves a command with.
    """
    child = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()
    try:
        status = child.wait(timeout=SUBPROCESS_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
    errors = child.stderr.read()
    child.stderr.close()
    return first, status, errors


def run_manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a child process against a throw-away SQLite file."""
    return manage(*args, env=child_env(tmp_path / "demo.sqlite3"))


def migrated_database(folder: Path) -> Path:
    """Return a throw-away SQLite file in ``folder``, migrated for demo children."""
    database = folder / "demo.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env=child_env(database),
        check=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    return database
