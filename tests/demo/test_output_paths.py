"""Tests for apps.debugging.output_paths: report files checked before any run."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.debugging.output_paths import check_output_path

FAST = ["--scenarios", "database_operations", "--time-scale", "0.02"]

# The kernel refuses new files in /proc to every user, root included, whose
# permission bits (and os.access) say the folder is writable.
needs_procfs = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="needs Linux's /proc"
)


@needs_procfs
@pytest.mark.parametrize("option", ["--output-file", "--html", "--html-file"])
def test_a_folder_that_takes_no_new_file_is_refused_before_the_run(
    option: str, nothing_may_run: list[str]
) -> None:
    """A report path under /proc is refused up front, not after the demo ran."""
    target = "/proc/perfprobe-report"

    with pytest.raises(CommandError) as caught:
        call_command(
            "run_performance_demo",
            *FAST,
            option,
            target,
            stdout=StringIO(),
            stderr=StringIO(),
        )

    message = str(caught.value)
    assert message.startswith(f"{option} {target!r} cannot be written: ")
    assert "'/proc'" in message
    assert "\n" not in message
    assert nothing_may_run == []
    assert not os.path.exists(target)


def test_the_check_leaves_an_existing_report_and_its_folder_alone(
    tmp_path: Path,
) -> None:
    """Checking a path that holds a report neither truncates it nor leaves a file."""
    target = tmp_path / "report.json"
    target.write_bytes(b'{"previous": "report"}\n')
    before = os.stat(target)

    assert check_output_path(str(target)) == target

    assert target.read_bytes() == b'{"previous": "report"}\n'
    assert os.stat(target).st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_the_check_creates_no_report_file(tmp_path: Path) -> None:
    """A path that does not exist yet still does not after the check."""
    target = tmp_path / "new.html"

    assert check_output_path(str(target), "--html") == target

    assert list(tmp_path.iterdir()) == []
