"""Name what each database backend writes where the demo makes it sleep."""

from __future__ import annotations

from django.db import connection

# SQLite runs the Python function the shop registers on each connection;
# PostgreSQL its own pg_sleep().
_SLEEP_CALLS = {"sqlite": "perfprobe_sleep(", "postgresql": "pg_sleep("}


def sleep_call() -> str:
    """Return the text a delayed query's SQL contains on this backend."""
    return _SLEEP_CALLS[connection.vendor]
