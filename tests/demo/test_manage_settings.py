"""The demo's manage.py honours --settings and --pythonpath as Django's does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .cli import child_env, manage

#: Prints one setting that only the test's own settings module defines.
SHOW_MARK = (
    "from django.conf import settings; "
    "print(getattr(settings, 'PERFPROBE_TEST_MARK', 'not set'))"
)


def _manage(
    tmp_path: Path, *args: str, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = child_env(
        tmp_path / "demo.sqlite3", drop=("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    )
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return manage(*args, env=env)


def _own_settings(tmp_path: Path) -> Path:
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "ownsettings.py").write_text(
        "from demo_site.settings import *  # noqa: F403\n"
        "PERFPROBE_TEST_MARK = 'own settings loaded'\n",
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize(
    "by_pythonpath_option",
    [False, True],
    ids=["settings-found-on-PYTHONPATH", "settings-found-by---pythonpath"],
)
def test_settings_options_pick_the_settings_module(
    tmp_path: Path, by_pythonpath_option: bool
) -> None:
    """--settings X loads X, not the demo's default settings."""
    folder = _own_settings(tmp_path)
    if by_pythonpath_option:
        options = ["--settings=ownsettings", "--pythonpath", str(folder)]
        pythonpath = None
    else:
        options = ["--settings", "ownsettings"]
        pythonpath = str(folder)
    result = _manage(
        tmp_path, "shell", "-c", SHOW_MARK, *options, pythonpath=pythonpath
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
