"""Share the fault-injection tests' views, fixtures and checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from pytest_django import Settings

import perfprobe
from perfprobe import PerformanceMonitor
from perfprobe.events import RequestEvent

from . import fault_urls

TOKEN = "fault-report-token-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
#: How many requests meet each fault: the first logs it, the others must not.
REPEATS = 3
PERFPROBE_DIR = str(perfprobe.__path__[0])


class InjectedFault(RuntimeError):
    """The failure planted inside perfprobe by a test."""


def broken(*args: Any, **kwargs: Any) -> Any:
    """Stand in for any perfprobe callable: raise ``InjectedFault``."""
    raise InjectedFault("injected by the test")


@pytest.fixture(autouse=True)
def fault_urls_on(settings: Settings) -> Iterator[None]:
    """Serve the fault views, with the live report behind a token."""
    settings.ROOT_URLCONF = "tests.perfprobe.fault_urls"
    settings.PERFPROBE = {"REPORT_TOKEN": TOKEN}
    fault_urls.raised.clear()
    yield
    fault_urls.raised.clear()


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """Capture every record; return a function listing those at ERROR or above."""
    caplog.set_level(logging.DEBUG)

    def at_error() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno >= logging.ERROR]

    return at_error


def answer(path: str, **headers: Any) -> tuple[int, bytes, str, str | None]:
    """GET ``path`` (ASGI for paths under /async) and return what a user sees."""
    if path.startswith("/async"):
        response = async_to_sync(AsyncClient().get)(path, **headers)
    else:
        response = Client().get(path, **headers)
    return (
        response.status_code,
        response.content,
        response["Content-Type"],
        response.get("X-Work"),
    )


def is_perfprobe(record: logging.LogRecord) -> bool:
    """Return whether ``record`` came through one of perfprobe's loggers."""
    return record.name == "perfprobe" or record.name.startswith("perfprobe.")


def assert_each_kind_logged_once(records: list[logging.LogRecord]) -> None:
    """Check that the fault was logged by perfprobe, once per kind, with its cause.

    Other loggers may log at ERROR (Django logs each 500 it serves), but
    never the injected fault.
    """
    ours = [r for r in records if is_perfprobe(r)]
    assert ours, "the fault was not logged"
    kinds = [(r.name, r.__dict__.get("perfprobe_failure")) for r in ours]
    assert len(kinds) == len(set(kinds)), kinds
    assert all(r.exc_info is not None for r in ours)
    for other in records:
        if not is_perfprobe(other) and other.exc_info is not None:
            assert not isinstance(other.exc_info[1], InjectedFault), other.name


def request_events(monitor: PerformanceMonitor) -> list[RequestEvent]:
    """Return the requests the monitor recorded."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, RequestEvent)]
