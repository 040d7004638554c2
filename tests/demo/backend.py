"""Name what each database backend writes where the demo makes it sleep."""

from __future__ import annotations

import re

from django.db import connection

# SQLite runs the Python function the shop registers on each connection;
# PostgreSQL its own pg_sleep().
_SLEEP_CALLS = {"sqlite": "perfprobe_sleep(", "postgresql": "pg_sleep("}


def sleep_call() -> str:
    """Return the text a delayed query's SQL contains on this backend."""
    return _SLEEP_CALLS[connection.vendor]


def slept_s(sql: str) -> float:
    """Return the seconds a delayed query's SQL asks the database to sleep.

    Read from the SQL as executed (parameters filled in), so a test checks
    the delay it asked for exactly, however slow the machine.
    """
    match = re.search(re.escape(sleep_call()) + r"([0-9.eE+-]+)", sql)
    assert match is not None, f"no {sleep_call()} in {sql!r}"
    return float(match.group(1))
