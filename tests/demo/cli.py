"""Run the demo's ``manage.py`` in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

#: Generous: a child run migrates a fresh SQLite file before its command.
SUBPROCESS_TIMEOUT_S = 120


def run_manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a child process against a throw-away SQLite file."""
    # Without DATABASE_URL, so that a PostgreSQL test run never points the
    # child at the real (non-test) database it names.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
