"""Share fixtures for the demo project's tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios import registry
from apps.shop.sample_data import ensure_sample_data

#: Module fixtures that run the demo on the test database, outside any test's
#: transaction, and flush it afterwards.
DEMO_DATABASE_FIXTURES = frozenset({"report"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the demo tests that use such a fixture as using the database.

    pytest-django creates the test database only when a selected test is
    marked ``django_db``. Selected alone (``-k``), these tests would run the
    demo on the database the settings name, a developer's own demo
    database, and then flush it.
    """
    here = Path(__file__).parent
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if (
            item.path.is_relative_to(here)
            and DEMO_DATABASE_FIXTURES.intersection(fixtures)
            and item.get_closest_marker("django_db") is None
        ):
            item.add_marker(pytest.mark.django_db)


@pytest.fixture
def shop(db: None) -> None:
    """Fill the test database with the deterministic sample shop."""
    ensure_sample_data()


@pytest.fixture
def lenient_client() -> Client:
    """Return a test client that answers an unhandled exception with a 500."""
    return Client(raise_request_exception=False)


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Make SIGINT raise KeyboardInterrupt in this test, as on a terminal.

    A shell starts background jobs with SIGINT ignored, and then neither
    a real SIGINT nor ``_thread.interrupt_main()`` reaches Python.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def nothing_may_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail on, and record, any attempt to prepare the database or run a scenario.

    For option checks that must refuse before the demo does anything.
    """
    calls: list[str] = []

    def forbidden(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"PerformanceDemo.{name} ran")

        return record

    for name in ("prepare", "run", "run_scenario"):
        monkeypatch.setattr(PerformanceDemo, name, forbidden(name))
    return calls


@pytest.fixture
def scenario_cleanup() -> Iterator[list[str]]:
    """Collect scenario names to unregister after the test, pass or fail."""
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            registry.unregister(name)
