"""Tests for the run_performance_demo management command."""

from __future__ import annotations

import gc
import json
import os
from decimal import Decimal
from importlib import metadata
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from perfprobe import monitor
from perfprobe.report import Report
from perfprobe.report.schema import validate_report
from tests.demo.cli import run_manage

COMMAND = "run_performance_demo"
FAST = ["--scenarios", "database_operations", "--time-scale", "0.02"]
BUILT_IN = [
    "database_operations",
    "api_requests",
    "concurrent_operations",
    "memory_intensive",
    "error_scenarios",
]


def run_command(*args: str) -> str:
    """Run the command in-process and return what it printed."""
    stdout = StringIO()
    call_command(COMMAND, *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


# -- a successful run -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_prints_plain_report_and_writes_json(tmp_path):
    """Without a terminal the report is plain text, and the JSON file is valid."""
    target = tmp_path / "report.json"

    output = run_command(*FAST, "--output-file", str(target))

    assert "\x1b[" not in output
    assert "Recommendations" in output
    assert "select_related" in output
    assert str(target) in output
    data = json.loads(target.read_text())
    validate_report(data)
    assert [s["name"] for s in data["scenarios"]] == ["database_operations"]
    assert data["settings"]["time_scale"] == 0.02


@pytest.mark.django_db(transaction=True)
def test_an_in_process_run_leaves_the_callers_heap_unfrozen():
    """call_command runs no exit shortcut: no object is moved out of gc's reach."""
    before = gc.get_freeze_count()

    run_command(*FAST)

    assert gc.get_freeze_count() == before


def test_cli_run_writes_its_report_and_exits_cleanly(tmp_path):
    """From manage.py, on a migrated file, the run exits 0 with a valid report."""
    target = tmp_path / "report.json"
    migrated = run_manage(tmp_path, "migrate", "--noinput", "--verbosity", "0")

    result = run_manage(tmp_path, COMMAND, *FAST, "--output-file", str(target))

    assert migrated.returncode == 0, migrated.stderr
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Recommendations" in result.stdout
    data = json.loads(target.read_text())
    validate_report(data)
    assert [s["name"] for s in data["scenarios"]] == ["database_operations"]


@pytest.mark.django_db(transaction=True)
def test_verbose_prints_each_measurement():
    """--verbose prints a line per query with its call site, and per operation."""
    lines = [line.strip() for line in run_command(*FAST, "--verbose").splitlines()]
    site = "apps/debugging/scenarios/database.py:"

    # Rich may wrap a long line, so the call site can sit on the next one.
    query_lines = [
        f"{line} {after}"
        for line, after in zip(lines, [*lines[1:], ""], strict=True)
        if line.startswith("query ")
    ]
    assert sum(site in line for line in query_lines) >= 12
    assert any(line.startswith("operation db.slow_query:") for line in lines)


# -- options refused before anything runs ---------------------------------------


BAD_OPTIONS = [
    (["--scenarios", "nope"], ["--scenarios", "'nope'", *BUILT_IN]),
    (["--scenarios", ","], ["--scenarios", "empty", *BUILT_IN]),
    (["--scenarios", "database_operations,nope"], ["--scenarios", "'nope'"]),
    (["--time-scale=-1"], ["--time-scale", "'-1'", "from 0.001"]),
    (["--time-scale", "0"], ["--time-scale", "'0'", "from 0.001"]),
    (["--time-scale", "abc"], ["--time-scale", "'abc'"]),
    (["--time-scale", "nan"], ["--time-scale", "'nan'"]),
    (["--time-scale", "inf"], ["--time-scale", "'inf'"]),
    (["--time-scale", "10.5"], ["--time-scale", "'10.5'", "to 10"]),
    (["--time-scale", "1e308"], ["--time-scale", "'1e308'", "to 10"]),
    (["--output-file", "/dev/null"], ["--output-file", "not a regular file"]),
    (["--html-file", "/dev/null"], ["--html-file", "not a regular file"]),
    # A disk that is always full: refused before the run, not found out after.
    (["--output-file", "/dev/full"], ["--output-file", "'/dev/full'", "regular file"]),
    (["--html", "/dev/full"], ["--html", "'/dev/full'", "not a regular file"]),
    (["--seed", "x"], ["--seed", "'x'", "integer"]),
    (["--seed", "1.5"], ["--seed", "'1.5'", "integer"]),
]


@pytest.mark.parametrize(
    ("args", "fragments"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS]
)
def test_bad_option_is_refused_before_anything_runs(args, fragments, nothing_may_run):
    """Each bad value raises a CommandError naming the option and the value.

    The test has no database access, so a query would fail it as well.
    """
    with pytest.raises(CommandError) as caught:
        run_command(*args)

    for fragment in fragments:
        assert fragment in str(caught.value)
    assert nothing_may_run == []
    assert monitor.collector.snapshot().recent_events == []


def test_output_file_in_a_missing_folder_is_refused(tmp_path, nothing_may_run):
    """An --output-file whose folder does not exist is refused up front."""
    target = tmp_path / "missing" / "report.json"

    with pytest.raises(CommandError, match=r"--output-file.*does not exist"):
        run_command(*FAST, "--output-file", str(target))
    assert nothing_may_run == []


@pytest.mark.parametrize("option", ["--output-file", "--html", "--html-file"])
def test_output_file_that_is_a_directory_is_refused(tmp_path, nothing_may_run, option):
    """An output path (JSON or HTML) that names a directory is refused up front."""
    with pytest.raises(CommandError, match=rf"{option} .*is a directory"):
        run_command(*FAST, option, str(tmp_path))
    assert nothing_may_run == []
    assert list(tmp_path.iterdir()) == []


def test_output_file_in_an_unwritable_folder_is_refused(tmp_path, nothing_may_run):
    """An --output-file in a folder the user cannot write to is refused."""
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user (root?) can write to a read-only folder")
        with pytest.raises(CommandError, match=r"--output-file.*not writable"):
            run_command(*FAST, "--output-file", str(folder / "report.json"))
    finally:
        folder.chmod(0o700)
    assert nothing_may_run == []


def test_output_file_in_a_folder_denied_to_the_user_is_refused(
    tmp_path, monkeypatch, nothing_may_run
):
    """The same refusal, with the folder's denial simulated for root (as on CI)."""
    folder = tmp_path / "denied"
    folder.mkdir()
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)

    with pytest.raises(CommandError, match=r"--output-file.*not writable"):
        run_command(*FAST, "--output-file", str(folder / "report.json"))
    assert nothing_may_run == []


# -- a failed write keeps the old file ------------------------------------------


def _fail_fsync(report: Report, path: Any, original: Any) -> Any:
    """Write the report while the disk reports itself full at fsync."""
    no_space = OSError(28, "No space left on device")
    with mock.patch("os.fsync", side_effect=no_space):
        return original(report, path)


def _add_non_json_value(report: Report, path: Any, original: Any) -> Any:
    """Write the report after a detail that JSON cannot hold slipped in."""
    report.environment["budget"] = Decimal("1.5")
    return original(report, path)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (_fail_fsync, "No space left on device"),
        (_add_non_json_value, "cannot be written as JSON"),
    ],
)
def test_failed_write_leaves_existing_output_file_intact(
    tmp_path, monkeypatch, failure, reason
):
    """When writing the JSON fails, the old file keeps its bytes and no temp."""
    target = tmp_path / "report.json"
    target.write_bytes(b'{"previous": "report"}\n')
    original = Report.write_json
    monkeypatch.setattr(
        Report, "write_json", lambda self, path: failure(self, path, original)
    )

    with pytest.raises(CommandError, match="--output-file") as caught:
        run_command(*FAST, "--output-file", str(target))

    assert reason in str(caught.value)
    assert target.read_bytes() == b'{"previous": "report"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.django_db(transaction=True)
def test_plain_report_width_follows_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal the report is as wide as COLUMNS=72 says, and no wider."""
    default = run_command(*FAST)
    monkeypatch.setenv("COLUMNS", "72")
    narrow = run_command(*FAST)

    assert 72 < max(len(line) for line in default.splitlines()) <= 120
    assert max(len(line) for line in narrow.splitlines()) <= 72
    assert "Recommendations" in narrow


# -- the real command line ------------------------------------------------------


def test_cli_bad_option_prints_one_line_and_exits_non_zero(tmp_path):
    """The real CLI reports a bad --time-scale in one line, without a traceback."""
    result = run_manage(tmp_path, COMMAND, "--time-scale", "abc")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--time-scale" in result.stderr
    assert "'abc'" in result.stderr
    assert "database_operations" not in result.stdout


def test_an_abbreviated_option_is_refused(nothing_may_run):
    """``--time 1`` no longer stands for ``--time-scale 1``: nothing runs."""
    with pytest.raises(CommandError) as caught:
        run_command("--scenarios", "database_operations", "--time", "0.02")

    assert str(caught.value) == (
        "Error: unknown option --time; did you mean --time-scale?"
    )
    assert nothing_may_run == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--time", "0.02"], "unknown option --time; did you mean --time-scale?"),
        (
            ["--tme-scale", "0.02"],
            "unknown option --tme-scale; did you mean --time-scale?",
        ),
    ],
)
def test_cli_unknown_option_is_one_line_with_status_2(tmp_path, args, line):
    """A misspelt or shortened option is one stderr line, not the usage block."""
    result = run_manage(tmp_path, COMMAND, "--scenarios", "database_operations", *args)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"manage.py run_performance_demo: error: {line}"
    ]
    assert result.stdout == ""


def test_cli_version_names_perfprobe_and_django(tmp_path):
    """``--version`` names the installed perfprobe and Django, not Django alone."""
    expected = (
        f"perfprobe {metadata.version('django-perfprobe')} "
        f"(Django {metadata.version('django')})"
    )

    result = run_manage(tmp_path, COMMAND, "--version")

    assert result.returncode == 0
    assert result.stdout.splitlines() == [expected]


@pytest.mark.parametrize("option", ["--output-file", "--html"])
@pytest.mark.parametrize("target", ["/dev/full", "folder"])
def test_cli_full_disk_or_folder_output_is_one_line(tmp_path, option, target):
    """The real CLI refuses /dev/full or a folder in one line, writing nothing."""
    folder = tmp_path / "folder"
    folder.mkdir()
    path = str(folder) if target == "folder" else target

    result = run_manage(tmp_path, COMMAND, *FAST, option, path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert option in line and repr(path) in line
    assert list(folder.iterdir()) == []
    assert "database_operations" not in result.stdout


def test_cli_on_unmigrated_database_says_to_migrate(tmp_path):
    """A fresh, empty database makes the command ask for `manage.py migrate`."""
    result = run_manage(tmp_path, COMMAND, "--time-scale", "0.02")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "CommandError" in result.stderr
    assert "python manage.py migrate" in result.stderr


def test_cli_help_lists_every_option(tmp_path):
    """`manage.py help run_performance_demo` documents each of its options."""
    result = run_manage(tmp_path, "help", COMMAND)

    assert result.returncode == 0
    for option in (
        "--output-file",
        "--verbose",
        "--scenarios",
        "--time-scale",
        "--seed",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("tests.demo.broken_scenarios", "perfprobe_no_such_dependency"),
        ("tests.demo.no_such_scenarios", "tests.demo.no_such_scenarios"),
        ("tests.demo.test_command.pytest", "neither a module nor a Scenario"),
    ],
)
def test_broken_extra_scenario_entry_is_one_clear_error(
    settings: Any, entry: str, named: str
) -> None:
    """A bad PERFORMANCE_DEMO_SCENARIOS entry names itself and the real cause."""
    settings.PERFORMANCE_DEMO_SCENARIOS = [entry]
    with pytest.raises(CommandError) as info:
        call_command("run_performance_demo", stdout=StringIO())
    message = str(info.value)
    assert entry in message and named in message
    assert "\n" not in message


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    """A corrupt demo database ends in one line naming it, without a traceback."""
    (tmp_path / "demo.sqlite3").write_text("not a database at all")
    result = run_manage(tmp_path, COMMAND, "--time-scale", "0.02")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "demo.sqlite3" in line and "not a database" in line
