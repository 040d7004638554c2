"""The application's own database failures are recorded and reach it unchanged."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client, override_settings

from perfprobe import PerformanceMonitor
from perfprobe.events import QueryEvent, error_type_name

from . import fault_urls, faults
from .faults import (
    PERFPROBE_DIR,
    request_events,
)

pytestmark = pytest.mark.django_db

# The fixtures every fault test uses: the fault views (autouse) and the
# records logged at ERROR.
fault_urls_on = faults.fault_urls_on
errors = faults.errors


# -- the application's own database failures ---------------------------------------


def user_frames(exc: BaseException) -> list[tuple[str, str, int | None]]:
    """Return the traceback's frames outside perfprobe: file, function, line."""
    return [
        (frame.filename, frame.name, frame.lineno)
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(PERFPROBE_DIR)
    ]


def failing_request(path: str) -> BaseException:
    """GET ``path``, which must raise; return the exception the client re-raised."""
    try:
        with pytest.raises(Exception) as caught:
            Client().get(path)
    finally:
        # The lost connection's wrapper must start afresh.
        connections.close_all()
    return caught.value


DB_FAULTS = ["/db-error/", "/lost-connection/", "/statement-timeout/"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", DB_FAULTS)
def test_fault_database_failure_is_recorded_and_reaches_the_view_unchanged(
    fresh_monitor: PerformanceMonitor, path: str
) -> None:
    """The database's own error is recorded and is the very object the view saw.

    Its type, message and traceback (apart from perfprobe's own frames) are
    those of the same request served with perfprobe switched off.
    """
    got = failing_request(path)
    seen = fault_urls.raised[-1]
    assert got is seen

    error_type = error_type_name(type(seen))
    (event,) = request_events(fresh_monitor)
    assert (event.status, event.error_type) == (500, error_type)
    snapshot = fresh_monitor.collector.snapshot()
    failed = [
        e
        for e in snapshot.recent_events
        if isinstance(e, QueryEvent) and e.error_type is not None
    ]
    assert [e.error_type for e in failed] == [error_type]
    assert sorted(e.source for e in snapshot.errors) == ["query", "request"]

    with override_settings(PERFPROBE={"ENABLED": False}):
        plain = failing_request(path)

    assert type(plain) is type(seen)
    assert str(plain) == str(seen)
    assert user_frames(plain) == user_frames(seen)
    assert len(request_events(fresh_monitor)) == 1


def test_fault_database_failure_outside_a_request_is_unchanged(
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """A failing query in plain code raises the same error as unmonitored, recorded."""
    sql = "SELECT no_such_column FROM no_such_table"
    # Each in a savepoint: on PostgreSQL a failed statement aborts the
    # test's transaction, and the second would fail for that reason instead.
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    with override_settings(PERFPROBE={"ENABLED": False}):
        with pytest.raises(DatabaseError) as plain, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)

    (query,) = [q for q in recorded_queries() if "no_such_table" in q.fingerprint]
    assert query.error_type == error_type_name(type(caught.value))
    assert type(caught.value) is type(plain.value)
    assert str(caught.value) == str(plain.value)
    assert type(caught.value.__cause__) is type(plain.value.__cause__)
    # The same frames, apart from perfprobe's, and the same place of the raise.
    mine, theirs = user_frames(caught.value), user_frames(plain.value)
    assert [f[:2] for f in mine] == [f[:2] for f in theirs]
    assert mine[-1] == theirs[-1]
