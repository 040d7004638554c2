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
