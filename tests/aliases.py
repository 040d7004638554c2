"""Add a database connection alias for the length of one test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connections


@contextlib.contextmanager
def extra_alias(
    alias: str, settings: dict[str, Any], django_db_blocker: Any
) -> Iterator[str]:
    """Make ``alias`` a connection with ``settings``; close and remove it after."""
    connections.settings[alias] = settings
    try:
        with django_db_blocker.unblock():
            yield alias
            connections[alias].close()
    finally:
        with contextlib.suppress(AttributeError):
            del connections[alias]
        del connections.settings[alias]
