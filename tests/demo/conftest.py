"""Share fixtures for the demo project's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.shop.latency import set_latency_scale
from apps.shop.sample_data import ensure_sample_data


@pytest.fixture(autouse=True)
def no_injected_latency() -> Iterator[None]:
    """Run each test with nominal latencies scaled to zero, then restore it."""
    set_latency_scale(0.0)
    yield
    set_latency_scale(None)


@pytest.fixture
def shop(db: None) -> None:
    """Fill the test database with the deterministic sample shop."""
    ensure_sample_data()


@pytest.fixture
def lenient_client() -> Client:
    """Return a test client that answers an unhandled exception with a 500."""
    return Client(raise_request_exception=False)
