"""Share fixtures for the demo project's tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from django.test import Client

from apps.shop.sample_data import ensure_sample_data


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
