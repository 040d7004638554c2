"""A demo whose reader goes away (``| head``) stops quietly, with status 141."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli import child_env, first_line_then_hang_up, migrated_database

#: 128 + SIGPIPE (13): what a shell reports for a process SIGPIPE ended.
SIGPIPE_STATUS = 141


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated throw-away SQLite file for the demo child."""
    return migrated_database(tmp_path_factory.mktemp("pipe"))


def test_a_closed_output_pipe_ends_the_demo_with_141(
    migrated: Path, tmp_path: Path
) -> None:
    """The reader reads one line and closes: no traceback, not the gate's 1."""
    previous = tmp_path / "report.json"
    previous.write_bytes(b'{"kept": true}')
    first, status, errors = first_line_then_hang_up(
        "run_performance_demo",
        "--time-scale",
        # Its 3.5 s of injected latency become 0.35 s: the pipe is closed
        # long before the next line is written.
        "0.1",
        "--scenarios",
        "error_scenarios",
        "--output-file",
        str(previous),
        env=child_env(migrated),
    )
    assert first.startswith(b"[1/1] error_scenarios")
    assert status == SIGPIPE_STATUS
    assert errors == b""
    # Stopped before its report: the earlier file is kept byte for byte.
    assert previous.read_bytes() == b'{"kept": true}'
