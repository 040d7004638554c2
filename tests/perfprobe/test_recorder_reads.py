"""Tests for what the query recorder reads once or through a cache.

The C recorder (``perfprobe.db._recorder``) reads instance attributes by
their place among the instance's values, keeps the thread's log per thread
and the logger's debug answer per version of its cache, and finds the
context's connection by address; the Python recorder reads all of them
every query. Each test runs with both and changes what was read between two
queries: the second must see the change.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.db import instrument
from perfprobe.events import QueryEvent
from perfprobe.scope import Scope, current_scope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("each_recorder")]

Queries = Callable[[], list[QueryEvent]]


def answer(*args: Any) -> str:
    """Stand in for Django's execute: answer without a database."""
    return "answer"


def run_query(sql: str = "SELECT 1", context: Any = None) -> Any:
    """Call the installed recorder as Django would, for one query."""
    if context is None:
        context = {"connection": connection, "cursor": None}
    return instrument.recorder(answer, sql, (), False, context)


def kept_sql(monitor: PerformanceMonitor) -> list[str]:
    """Return the SQL of every raw record waiting in the monitor's thread logs."""
    logs = monitor.collector.thread_logs.logs
    return [record[2] for log in logs for record in log.queries]


def in_scope(scope: Scope, sql: str) -> None:
    """Run one query with ``scope`` current."""
    token = current_scope.set(scope)
    try:
        run_query(sql)
    finally:
        current_scope.reset(token)


class LateScope(Scope):
    """A scope class that a test changes after its first query."""


def test_a_property_added_to_the_scopes_class_is_obeyed(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A data descriptor given to the class later wins over the instance's flag."""
    scope = LateScope("late")
    in_scope(scope, "SELECT 1")
    LateScope.suppressed = property(lambda self: True)  # type: ignore[assignment]
    try:
        in_scope(scope, "SELECT 2")
    finally:
        del LateScope.suppressed
    in_scope(scope, "SELECT 3")
    assert kept_sql(fresh_monitor) == ["SELECT 1", "SELECT 3"]


class Switch:
    """A non-data descriptor that says suppressed; a test gives it __set__."""

    def __get__(self, scope: object, owner: type | None = None) -> bool:
        return True


class SwitchScope(Scope):
    """A scope whose class attribute ``suppressed`` is a Switch."""

    suppressed = Switch()  # type: ignore[assignment]


def test_a_class_attribute_that_becomes_a_data_descriptor_is_obeyed(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The instance's own flag wins until the descriptor's class gains __set__."""
    scope = SwitchScope("switch")
    # A non-data descriptor: the flag the dataclass __init__ stored wins.
    assert scope.suppressed is False
    in_scope(scope, "SELECT 1")

    def ignore(descriptor: Switch, scope: object, value: object) -> None:
        pass

    Switch.__set__ = ignore  # type: ignore[attr-defined]
    try:
        assert scope.suppressed is True
        in_scope(scope, "SELECT 2")
    finally:
        del Switch.__set__  # type: ignore[attr-defined]
    in_scope(scope, "SELECT 3")
    assert kept_sql(fresh_monitor) == ["SELECT 1", "SELECT 3"]


class HushedScope(Scope):
    """A scope class whose own default is suppressed."""

    suppressed = True


def test_a_flag_in_a_dict_or_deleted_is_read_as_python_reads_it(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The instance's dict, once made, and the class default both answer."""
    scope = HushedScope("hushed", suppressed=False)
    in_scope(scope, "SELECT 1")
    # Asking for __dict__ makes one: the instance's values move into it.
    scope.__dict__["suppressed"] = True
    in_scope(scope, "SELECT 2")
    scope.__dict__["suppressed"] = False
    in_scope(scope, "SELECT 3")
    other = HushedScope("other", suppressed=False)
    in_scope(other, "SELECT 4")
    del other.suppressed
    in_scope(other, "SELECT 5")
    assert kept_sql(fresh_monitor) == ["SELECT 1", "SELECT 3", "SELECT 4"]


def test_a_collector_replaced_between_queries_gets_the_next(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The monitor's collector, and that collector's thread log, are read again."""
    first = fresh_monitor.collector
    run_query("SELECT 1")
    second = Collector()
    fresh_monitor.collector = second
    try:
        run_query("SELECT 2")
        assert kept_sql(fresh_monitor) == ["SELECT 2"]
    finally:
        fresh_monitor.collector = first
    run_query("SELECT 3")
    assert kept_sql(fresh_monitor) == ["SELECT 1", "SELECT 3"]


def test_each_thread_keeps_its_queries_in_its_own_log(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A thread started after another ended is not given the ended one's log."""
    seen: dict[str, tuple[str, list[str]]] = {}

    def work(name: str) -> None:
        run_query(f"SELECT {name}")
        log = fresh_monitor.collector.thread_logs.local.log
        seen[name] = (log.thread_name, [record[2] for record in log.queries])

    work("main")
    for name in ["first", "second", "third"]:
        worker = threading.Thread(target=work, args=(name,), name=name)
        worker.start()
        worker.join()
    work("main again")
    main = threading.current_thread().name
    assert seen == {
        "main": (main, ["SELECT main"]),
        "first": ("first", ["SELECT first"]),
        "second": ("second", ["SELECT second"]),
        "third": ("third", ["SELECT third"]),
        "main again": (main, ["SELECT main", "SELECT main again"]),
    }


def test_listeners_added_between_queries_get_the_next(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """A listener added after a quiet query hears the next one at once."""
    run_query("SELECT 1")
    heard: list[Any] = []
    fresh_monitor.collector.add_listener(heard.append)
    try:
        run_query("SELECT 2")
    finally:
        fresh_monitor.collector.remove_listener(heard.append)
    # The raw record of the first is folded first, so events keep their order.
    assert [event.sql for event in heard if isinstance(event, QueryEvent)] == [
        "SELECT ?"
    ]
    assert len(recorded_queries()) == 2


def test_debug_logging_switched_on_between_queries_logs_the_next(
    caplog: pytest.LogCaptureFixture, recorded_queries: Queries
) -> None:
    """The logger's kept answer is asked again once its level changes."""
    with caplog.at_level(logging.INFO, logger="perfprobe.db"):
        run_query("SELECT 1")
        run_query("SELECT 2")
    with caplog.at_level(logging.DEBUG, logger="perfprobe.db"):
        run_query("SELECT 3")
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert len(recorded_queries()) == 3


class Fallback(dict[str, Any]):
    """A context that answers any missing key with the connection."""

    def __missing__(self, key: str) -> Any:
        return connection


@pytest.mark.parametrize(
    "make_context",
    [
        # The key built at run time: equal to "connection", another object.
        lambda: {"".join(["conn", "ection"]): connection},
        lambda: {**{f"extra{i}": i for i in range(6)}, "connection": connection},
        lambda: Fallback(),
    ],
    ids=["equal-key", "large-dict", "dict-subclass"],
)
def test_the_connection_is_read_from_any_context(
    make_context: Callable[[], Any], recorded_queries: Queries
) -> None:
    """Any context Python can subscript gives the connection, as in Python."""
    assert run_query("SELECT 1", make_context()) == "answer"
    (event,) = recorded_queries()
    assert (event.alias, event.vendor) == (connection.alias, connection.vendor)


def test_a_context_without_a_connection_is_logged_and_the_result_returned(
    caplog: pytest.LogCaptureFixture, fresh_monitor: PerformanceMonitor
) -> None:
    """A KeyError inside the recorder is logged, never raised to the caller."""
    with caplog.at_level(logging.ERROR, logger="perfprobe.db"):
        assert run_query("SELECT 1", {"cursor": None}) == "answer"
    (record,) = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert kept_sql(fresh_monitor) == []


class Shifting(datetime.tzinfo):
    """A time zone whose offset empties a list of parameters when asked."""

    def __init__(self, params: list[Any]) -> None:
        self.params = params

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        self.params.clear()
        return datetime.timedelta(hours=1)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)


def test_a_list_emptied_while_it_is_hashed_hashes_as_it_was(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Parameters are hashed as they were when the query came, whatever runs."""
    params: list[Any] = [1, "a"]
    params.append(datetime.datetime(2026, 1, 2, tzinfo=Shifting(params)))
    before = tuple(params)
    instrument.recorder(answer, "SELECT 1", params, False, {"connection": connection})
    assert params == []
    logs = fresh_monitor.collector.thread_logs.logs
    (record,) = [record for log in logs for record in log.queries]
    assert record[8] == hash((list, tuple(map(type, before)), before))


def test_clocks_patched_when_the_recorder_is_bound_are_called(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """time.time patched when the C recorder is bound (freezegun) is called.

    The instrument module binds ``_time = time.time`` at import and binds
    the C recorder with ``time.time``: both are then the fake, which must be
    called, not stood in for by the system clock.
    """

    def frozen() -> float:
        return 1234.5

    monkeypatch.setattr(time, "time", frozen)
    monkeypatch.setattr(instrument, "_time", frozen)
    try:
        instrument._load_recorder()
        run_query("SELECT 1")
    finally:
        monkeypatch.undo()
        instrument._load_recorder()

    logs = fresh_monitor.collector.thread_logs.logs
    assert [record[4] for log in logs for record in log.queries] == [1234.5]
