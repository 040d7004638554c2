"""Have the database itself stop queries that run past a deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import (
    DEFAULT_DB_ALIAS,
    NotSupportedError,
    OperationalError,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["RUNAWAY_QUERY_SQL", "run_runaway_query", "statement_timeout"]

# Counts the rows of an unbounded recursive sequence: real work that never
# finishes by itself, in constant memory on SQLite. BIGINT keeps PostgreSQL
# from stopping it early with an integer overflow.
RUNAWAY_QUERY_SQL = (
    "WITH RECURSIVE counter(n) AS ("
    "SELECT CAST(1 AS BIGINT) UNION ALL SELECT n + 1 FROM counter"
    ") SELECT COUNT(*) FROM counter"
)

# SQLite calls the progress handler every this many virtual machine steps,
# about every few microseconds; the deadline is checked that often.
_SQLITE_PROGRESS_STEPS = 1000
_DEADLINE_ATTR = "_shop_statement_deadline"


@contextmanager
def statement_timeout(seconds: float, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Make the database stop any query in the block after ``seconds``.

    A stopped query raises django.db.OperationalError. Supported on SQLite
    (a progress handler on this thread's connection) and PostgreSQL
    (``SET LOCAL statement_timeout`` in a transaction.atomic block); other
    backends raise NotSupportedError. On SQLite, time spent in a Python
    function such as perfprobe_sleep() is not interrupted until it returns,
    and the limit is one deadline for the whole block. On PostgreSQL the
    limit applies to each statement on its own, the error is the server's
    query_canceled (SQLSTATE 57014), and catching it inside the block
    leaves the transaction aborted: the block's work is rolled back.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    connection = connections[using]
    if connection.vendor == "sqlite":
        with _sqlite_timeout(connection, seconds):
            yield
    elif connection.vendor == "postgresql":
        with _postgresql_timeout(connection, seconds):
            yield
    else:
        raise NotSupportedError(
            f"statement_timeout() supports sqlite and postgresql, "
            f"not {connection.vendor}"
        )


def _deadline_handler(deadline: float) -> Callable[[], int]:
    """Return a SQLite progress handler that interrupts after ``deadline``."""

    def handler() -> int:
        # Any non-zero return makes SQLite abort the statement as interrupted.
        return int(time.monotonic() >= deadline)

    return handler


@contextmanager
def _sqlite_timeout(connection: BaseDatabaseWrapper, seconds: float) -> Iterator[None]:
    """Interrupt SQLite statements on this connection after ``seconds``."""
    connection.ensure_connection()
    raw = connection.connection
    # sqlite3 cannot report the installed handler, so an enclosing block's
    # deadline is kept on the wrapper (one per thread) to restore it on exit.
    outer: float | None = getattr(connection, _DEADLINE_ATTR, None)
    deadline = time.monotonic() + seconds
    if outer is not None:
        deadline = min(deadline, outer)

    raw.set_progress_handler(_deadline_handler(deadline), _SQLITE_PROGRESS_STEPS)
    setattr(connection, _DEADLINE_ATTR, deadline)
    try:
        yield
    except OperationalError as exc:
        # Ctrl-C during the query runs Python's signal handler inside the
        # progress handler, and sqlite3 turns the KeyboardInterrupt it raises
        # into this same "interrupted" error: one before the deadline was
        # not the timeout, and must stop the program as Ctrl-C does.
        if str(exc) == "interrupted" and time.monotonic() < deadline:
            raise KeyboardInterrupt from exc
        raise
    finally:
        setattr(connection, _DEADLINE_ATTR, outer)
        if outer is None:
            raw.set_progress_handler(None, 0)
        else:
            raw.set_progress_handler(_deadline_handler(outer), _SQLITE_PROGRESS_STEPS)


@contextmanager
def _postgresql_timeout(
    connection: BaseDatabaseWrapper, seconds: float
) -> Iterator[None]:
    """Set PostgreSQL's statement_timeout for a transaction.atomic block."""
    timeout = f"{max(1, round(seconds * 1000))}ms"
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            (previous,) = cursor.fetchone()
            # set_config(..., true) is SET LOCAL that accepts a parameter.
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [timeout]
            )
        yield
        if _transaction_failed(connection):
            # The block caught an error the server raised (the timeout, say),
            # which aborted the transaction: nothing more runs in it. Rolling
            # back to the savepoint, as atomic does when told, ends that state
            # and undoes SET LOCAL as well.
            transaction.set_rollback(True, using=connection.alias)
            return
        # Inside an enclosing transaction SET LOCAL would outlive this block;
        # on an error the savepoint rollback undoes it instead.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [previous]
            )


# libpq's PQTRANS_INERROR, which psycopg 3 and psycopg2 both report.
_PQTRANS_INERROR = 3


def _transaction_failed(connection: BaseDatabaseWrapper) -> bool:
    """Return whether the PostgreSQL transaction is aborted by an error."""
    info = getattr(connection.connection, "info", None)
    status = getattr(info, "transaction_status", None)
    return status is not None and int(status) == _PQTRANS_INERROR


def run_runaway_query(timeout_s: float, using: str = DEFAULT_DB_ALIAS) -> None:
    """Run RUNAWAY_QUERY_SQL until the database stops it after ``timeout_s``.

    Raise django.db.OperationalError when the database stops the query,
    which, since the query never ends by itself, is always.
    """
    with (
        statement_timeout(timeout_s, using=using),
        connections[using].cursor() as cursor,
    ):
        cursor.execute(RUNAWAY_QUERY_SQL)
        cursor.fetchone()
