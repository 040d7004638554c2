"""Tests for perfprobe.failures: each kind of failure logged once, then counted."""

from __future__ import annotations

import logging

import pytest

from perfprobe.failures import failure_counts, log_failure, reset_failures


def fail(logger: logging.Logger, kind: str, times: int) -> None:
    """Raise and report a ValueError ``times`` times as a failure of ``kind``."""
    for index in range(times):
        try:
            raise ValueError(f"bug {index}")
        except ValueError:
            log_failure(logger, kind, "perfprobe failed to %s", "work")


def test_the_first_failure_is_an_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ten failures of one kind make one ERROR record, with the first exception."""
    logger = logging.getLogger("perfprobe.test")
    with caplog.at_level(logging.ERROR, logger="perfprobe.test"):
        fail(logger, "work", 10)

    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("perfprobe failed to work")
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "bug 0"
    # The record points at the code that failed, not at the helper.
    assert record.filename == "test_failures.py"


def test_later_failures_are_counted_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """Failures 2..5 are DEBUG records carrying their count, without traceback."""
    logger = logging.getLogger("perfprobe.test")
    with caplog.at_level(logging.DEBUG, logger="perfprobe.test"):
        fail(logger, "work", 5)

    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.ERROR] + [logging.DEBUG] * 4
    assert [r.__dict__["failure_count"] for r in caplog.records[1:]] == [2, 3, 4, 5]
    assert all(r.exc_info is None for r in caplog.records[1:])
    assert "ValueError" in caplog.records[1].getMessage()
    assert failure_counts()[("perfprobe.test", "work")] == 5


def test_each_kind_and_each_logger_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two kinds in one logger and one kind in another make three ERROR records."""
    first = logging.getLogger("perfprobe.test")
    second = logging.getLogger("perfprobe.other")
    with caplog.at_level(logging.ERROR, logger="perfprobe"):
        fail(first, "read", 3)
        fail(first, "write", 3)
        fail(second, "read", 3)

    assert sorted(
        (r.name, r.__dict__["perfprobe_failure"]) for r in caplog.records
    ) == [
        ("perfprobe.other", "read"),
        ("perfprobe.test", "read"),
        ("perfprobe.test", "write"),
    ]


def test_reset_logs_the_next_failure_again(caplog: pytest.LogCaptureFixture) -> None:
    """After reset_failures the next failure of a kind is an ERROR once more."""
    logger = logging.getLogger("perfprobe.test")
    with caplog.at_level(logging.ERROR, logger="perfprobe.test"):
        fail(logger, "work", 2)
        reset_failures()
        fail(logger, "work", 2)

    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_failures_are_counted_whatever_the_message() -> None:
    """A message whose arguments do not fit still counts; nothing is raised."""
    logger = logging.getLogger("perfprobe.test")
    for _ in range(2):
        try:
            raise ValueError("bug")
        except ValueError:
            # Two placeholders, one argument: logging reports it, never raises.
            log_failure(logger, "bad-args", "perfprobe failed %s %s", "once")
    assert failure_counts()[("perfprobe.test", "bad-args")] == 2
