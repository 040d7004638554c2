"""The demo's manage.py honours --settings and --pythonpath as Django's does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from .cli import SUBPROCESS_TIMEOUT_S

#: Prints one setting that only the test's own settings module defines.
SHOW_MARK = (
    "from django.conf import settings; "
    "print(getattr(settings, 'PERFPROBE_TEST_MARK', 'not set'))"
)


def _manage(
    tmp_path: Path, *args: str, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


def _own_settings(tmp_path: Path) -> Path:
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "ownsettings.py").write_text(
        "from demo_site.settings import *  # noqa: F403\n"
        "PERFPROBE_TEST_MARK = 'own settings loaded'\n",
        encoding="utf-8",
    )
    return folder


def test_settings_option_picks_the_settings_module(tmp_path: Path) -> None:
    """--settings X loads X, not the demo's default settings."""
    folder = _own_settings(tmp_path)
    result = _manage(
        tmp_path,
        "shell",
        "-c",
        SHOW_MARK,
        "--settings",
        "ownsettings",
        pythonpath=str(folder),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "own settings loaded"


def test_pythonpath_option_is_taken_before_the_settings_load(tmp_path: Path) -> None:
    """--pythonpath makes a settings module importable, in either spelling."""
    folder = _own_settings(tmp_path)
    result = _manage(
        tmp_path,
        "shell",
        "-c",
        SHOW_MARK,
        "--settings=ownsettings",
        "--pythonpath",
        str(folder),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "own settings loaded"


def test_without_the_option_the_demo_settings_are_loaded(tmp_path: Path) -> None:
    """No --settings: the demo's own settings, which define no such mark."""
    result = _manage(tmp_path, "shell", "-c", SHOW_MARK)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "not set"


def test_a_settings_module_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    """A misspelt --settings is refused in one line, not passed over."""
    result = _manage(tmp_path, "check", "--settings", "does.not.exist")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: the settings module 'does.not.exist' cannot be imported: "
        "No module named 'does'"
    ]
