"""Share fixtures for the demo project's tests."""

from __future__ import annotations

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
