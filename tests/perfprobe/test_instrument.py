"""Tests for perfprobe.db.instrument: the execute wrapper and its life cycle."""

from __future__ import annotations

import contextvars
import datetime
import inspect
import itertools
import logging
import os
import sys
import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, ProgrammingError, connection, connections
from django.test import override_settings

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, monitoring
from perfprobe.collector import Collector
from perfprobe.db import callsite, installer, instrument
from perfprobe.db.framewalk import PURE_PYTHON_ENV
from perfprobe.events import QueryEvent
from perfprobe.scope import current_scope

# Every test runs with the C recorder (where built) and the Python one.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("each_recorder")]

Queries = Callable[[], list[QueryEvent]]
THIS_FILE = os.path.relpath(os.path.abspath(__file__), settings.BASE_DIR)


def caller_line() -> int:
    """Return the line number the caller is on."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def recorder_count() -> int:
    """Return how many times the recorder sits in the default connection."""
    return sum(w is instrument.recorder for w in connection.execute_wrappers)


@pytest.fixture
def reinstall() -> Iterator[None]:
    """Leave the instrumentation installed however the test ends."""
    yield
    installer.install()


def test_install_is_idempotent() -> None:
    """Installing twice still leaves exactly one recorder on the connection."""
    installer.install()
    installer.install()
    assert installer.is_installed()
    assert recorder_count() == 1


def test_the_installed_recorder_is_a_plain_function(each_recorder: str) -> None:
    """The wrapper Django wraps in a partial each query is a plain function.

    ``functools.partial`` calls a function through vectorcall, but an
    instance with ``__call__`` through ``tp_call``: two argument tuples and a
    look-up of ``__call__`` a query (about 850 instructions). The C recorder
    is a built-in function taking its arguments as an array (vectorcall).
    """
    installer.install()
    (wrapper,) = [w for w in connection.execute_wrappers if w is instrument.recorder]
    if each_recorder == "c":
        assert inspect.isbuiltin(wrapper)
        assert wrapper.__module__ == "perfprobe.db._recorder"
    else:
        assert inspect.isfunction(wrapper)


def test_a_query_is_recorded_with_its_origin(recorded_queries: Queries) -> None:
    """A cursor query becomes one event with alias, vendor, fingerprint and site."""
    with connection.cursor() as cursor:
        line = caller_line() + 1
        cursor.execute("SELECT %s, 'x' /* note */", [42])
    (event,) = recorded_queries()
    assert event.alias == "default"
    assert event.vendor == connection.vendor
    # Without STORE_SQL_PARAMETERS the literal 'x' must not be kept either.
    assert event.sql == "SELECT ?, ?"
    assert event.fingerprint == "SELECT ?, ?"
    assert event.call_site == f"{THIS_FILE}:{line}"
    assert event.thread_id == threading.get_ident()
    assert 0 < event.duration_s < 5
    assert (event.many, event.batch_size, event.error_type) == (False, 1, None)


def test_a_query_inside_a_scope_carries_its_path(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """The event names the innermost scope by its full path."""
    with fresh_monitor.scope("outer"), fresh_monitor.scope("inner") as inner:
        Customer.objects.count()
    (event,) = recorded_queries()
    assert event.scope == "outer/inner"
    assert inner.summary.query_count == 1


def test_a_failing_query_is_recorded_and_reraised(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Bad SQL is recorded with its error type and time, then raised as it was."""
    # The drivers classify a missing table differently: sqlite3 as an
    # OperationalError, psycopg as UndefinedTable, a ProgrammingError.
    error = {"sqlite": OperationalError, "postgresql": ProgrammingError}[
        connection.vendor
    ]
    error_name = f"django.db.utils.{error.__name__}"
    with pytest.raises(error), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM perfprobe_no_such_table")
    (event,) = recorded_queries()
    assert event.error_type == error_name
    assert event.duration_s > 0
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.error_counts == {("query", event.fingerprint, error_name): 1}


def test_the_same_exception_object_passes_through(recorded_queries: Queries) -> None:
    """An exception raised under the recorder reaches the caller unchanged."""
    boom = RuntimeError("boom")

    def refuse(*args: Any) -> None:
        raise boom

    with (
        connection.execute_wrapper(refuse),
        connection.cursor() as cursor,
        pytest.raises(RuntimeError) as excinfo,
    ):
        cursor.execute("SELECT 1")
    assert excinfo.value is boom
    (event,) = recorded_queries()
    assert event.error_type == "RuntimeError"


def test_executemany_is_one_event_with_its_batch_size(
    recorded_queries: Queries,
) -> None:
    """executemany over an iterator runs every row and is recorded once."""
    # A timestamp parameter, not a literal: PostgreSQL refuses 0 for one.
    created_at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    rows = ((f"n{i}", f"e{i}@example.com", created_at) for i in range(3))
    sql = "INSERT INTO shop_customer (name, email, created_at) VALUES (%s, %s, %s)"
    with connection.cursor() as cursor:
        # Django's stubs say Sequence; its backends accept any iterable.
        cursor.executemany(sql, rows)  # type: ignore[arg-type]
    (event,) = recorded_queries()
    assert (event.many, event.batch_size) == (True, 3)
    assert Customer.objects.count() == 3


def test_parameters_are_not_stored_by_default(recorded_queries: Queries) -> None:
    """Without STORE_SQL_PARAMETERS the event keeps only a hash of them."""
    Customer.objects.filter(name="secret").count()
    (event,) = recorded_queries()
    assert event.params is None
    assert event.params_hash != 0
    assert "params" not in event.to_dict()


def test_parameters_are_stored_when_asked(recorded_queries: Queries) -> None:
    """With STORE_SQL_PARAMETERS the parameters are kept on the event."""
    with override_settings(PERFPROBE={"STORE_SQL_PARAMETERS": True}):
        Customer.objects.filter(name="shown").count()
    (event,) = recorded_queries()
    assert list(event.params) == ["shown"]


def test_raw_sql_with_literals_is_kept_only_when_asked(
    recorded_queries: Queries,
) -> None:
    """A literal written into raw SQL leaves the process only with the opt-in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'alice@example.com'")
    with override_settings(PERFPROBE={"STORE_SQL_PARAMETERS": True}):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'alice@example.com'")
    hidden, shown = recorded_queries()
    assert "alice" not in str(hidden.to_dict())
    assert shown.sql == "SELECT 'alice@example.com'"


def test_same_parameters_hash_alike(recorded_queries: Queries) -> None:
    """Equal parameters give equal hashes and different ones differ."""
    for name in ("a", "a", "b"):
        Customer.objects.filter(name=name).count()
    first, second, third = (event.params_hash for event in recorded_queries())
    assert first == second != third


def test_disabled_monitor_records_nothing(recorded_queries: Queries) -> None:
    """With ENABLED off the query runs and nothing is recorded."""
    with override_settings(PERFPROBE={"ENABLED": False}):
        assert Customer.objects.count() == 0
    assert recorded_queries() == []


def test_user_wrapper_on_top_survives_uninstall(
    reinstall: None, recorded_queries: Queries
) -> None:
    """Uninstall removes only the recorder, even under a user's wrapper."""
    seen: list[str] = []

    def user_wrapper(execute: Any, sql: str, *args: Any) -> Any:
        seen.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(user_wrapper):
        installer.uninstall()
        assert connection.execute_wrappers[-1] is user_wrapper
        assert recorder_count() == 0
        Customer.objects.count()
        installer.install()
        Customer.objects.count()
        assert connection.execute_wrappers[-1] is user_wrapper
    # Django's own pop took the user's wrapper, not the recorder.
    assert connection.execute_wrappers == [instrument.recorder]
    assert len(seen) == 2
    assert len(recorded_queries()) == 1


def test_uninstall_stops_recording_new_connections(
    reinstall: None, recorded_queries: Queries
) -> None:
    """After uninstall, a connection opened later is not instrumented either."""
    installer.uninstall()
    assert not installer.is_installed()
    installer.uninstall()
    other = connection.copy()
    try:
        other.ensure_connection()
        assert instrument.recorder not in other.execute_wrappers
    finally:
        other.close()
    Customer.objects.count()
    assert recorded_queries() == []


def test_queries_in_a_worker_thread_are_recorded(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """A thread's own connection is instrumented and sees the scope it is given."""
    results: list[int] = []

    def work() -> None:
        try:
            results.append(Customer.objects.count())
        finally:
            connections.close_all()

    with fresh_monitor.scope("batch"):
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(work,))
        worker.start()
        worker.join()
    assert results == [0]
    (event,) = recorded_queries()
    assert event.thread_id == worker.ident != threading.get_ident()
    assert event.scope == "batch"


def test_recording_failures_are_logged_not_raised(
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug inside perfprobe is logged and the user's query still answers."""

    def broken(*args: Any) -> None:
        raise ValueError("collector bug")

    # A slow query is recorded at once (to warn about it), through
    # record_query; an ordinary one is folded in later.
    fresh_monitor.time_scale = 1e-12
    monkeypatch.setattr(fresh_monitor.collector, "record_query", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe.db"):
        assert Customer.objects.count() == 0
    (record,) = caplog.records
    assert record.name == "perfprobe.db"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_a_failing_fold_of_queries_is_logged_not_raised(
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the fold of waiting queries is logged; the read still answers."""

    def broken(*args: Any) -> None:
        raise ValueError("fold bug")

    # A collector of its own: a memory block another test left open would
    # send the query the eager way.
    own = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", own)
    monkeypatch.setattr(own.collector, "_add_queries", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe"):
        assert Customer.objects.count() == 0
        snapshot = own.collector.snapshot()
    assert snapshot.query_total is None
    (record,) = caplog.records
    assert record.name == "perfprobe.collector"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_slow_queries_are_logged_as_warnings(
    fresh_monitor: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A query over SLOW_QUERY_SECONDS times the time scale logs a warning."""
    fresh_monitor.time_scale = 1e-12
    with caplog.at_level(logging.WARNING, logger="perfprobe.db"):
        line = caller_line() + 1
        Customer.objects.count()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.name == "perfprobe.db"
    assert record.call_site == f"{THIS_FILE}:{line}"  # type: ignore[attr-defined]
    assert record.duration_s > record.threshold_s  # type: ignore[attr-defined]


def test_a_slow_query_under_a_millisecond_threshold_reads_in_ms(
    fresh_monitor: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0.5 ms threshold prints as 0.500 ms, not as 0.000 s; the query in ms."""
    # SLOW_QUERY_SECONDS 0.5 s (the default) scaled to 0.5 ms.
    fresh_monitor.time_scale = 0.001
    sql = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
        " WHERE i < 300000) SELECT count(*) FROM n"
    )
    with (
        override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": 0.5}),
        caplog.at_level(logging.WARNING, logger="perfprobe.db"),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        assert cursor.fetchone() == (300000,)
    (record,) = caplog.records
    message = record.getMessage()
    assert "(threshold 0.500 ms)" in message, message
    assert record.threshold_s == 0.0005  # type: ignore[attr-defined]
    took = message.split("Slow query took ")[1].split(" (threshold")[0]
    if took.endswith(" ms"):
        assert float(took[: -len(" ms")].replace(",", "")) > 0.5, message
    else:
        assert took.endswith(" s") and float(took[: -len(" s")]) >= 1, message


def test_query_details_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG every query is logged with its fingerprint."""
    with caplog.at_level(logging.DEBUG, logger="perfprobe.db"):
        Customer.objects.count()
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    fingerprint = getattr(record, "fingerprint", "")
    assert fingerprint.startswith("SELECT COUNT(*)")


def test_the_default_monitor_is_looked_up_per_query(
    monkeypatch: pytest.MonkeyPatch, recorded_queries: Queries
) -> None:
    """Replacing perfprobe.monitoring.monitor redirects the very next query."""
    replacement = PerformanceMonitor(Collector())
    monkeypatch.setattr("perfprobe.monitoring.monitor", replacement)
    Customer.objects.count()
    assert recorded_queries() == []
    assert replacement.collector.snapshot().query_total is not None


def record_directly(sql: Any, params: Any = None) -> None:
    """Pass ``sql`` through the recorder to a database call that does nothing.

    SQLite refuses some SQL that other backends take (bytes, for one), so
    the recorder is called the way Django calls it, minus the database.
    """

    def execute(*args: Any) -> None:
        return None

    instrument.recorder(execute, sql, params, False, {"connection": connection})


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_sql_is_fingerprinted_as_text(
    kind: Callable[[bytes], Any], recorded_queries: Queries
) -> None:
    """SQL given as bytes loses its literals like text SQL does."""
    sql = b"SELECT * FROM shop_customer WHERE email = 'alice@example.com'"
    record_directly(kind(sql))
    (event,) = recorded_queries()
    assert event.fingerprint == "SELECT * FROM shop_customer WHERE email = ?"
    assert "alice" not in str(event.to_dict())


def test_bytes_sql_is_stored_decoded_when_asked(recorded_queries: Queries) -> None:
    """With the opt-in the stored SQL is the decoded text, bad bytes replaced."""
    with override_settings(PERFPROBE={"STORE_SQL_PARAMETERS": True}):
        record_directly(b"SELECT 'caf\xc3\xa9', '\xff'")
    (event,) = recorded_queries()
    assert event.sql == "SELECT 'caf\u00e9', '\ufffd'"
    assert event.fingerprint == "SELECT ?, ?"


class Unprintable:
    """A parameter whose repr() raises, as a broken third-party type's might."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


NAN = float("nan")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["a", 1], ["a", 1]),
        ((b"blob", None), (b"blob", None)),
        ([NAN], [float("nan")]),
        ([Decimal("NaN")], [Decimal("NaN")]),
        ([Decimal("1.50")], [Decimal("1.50")]),
        ([datetime.datetime(2024, 1, 2, 3, 4)], [datetime.datetime(2024, 1, 2, 3, 4)]),
        ([uuid.UUID(int=7)], [uuid.UUID(int=7)]),
        ([bytearray(b"x")], [bytearray(b"x")]),
        ({"a": 1, "b": [2, 3]}, {"b": [2, 3], "a": 1}),
        ([[1, [2]]], [[1, [2]]]),
    ],
)
def test_equal_parameters_hash_equal(first: Any, second: Any) -> None:
    """Parameters equal in value, not necessarily in identity, hash alike."""
    assert instrument._params_hash(first) == instrument._params_hash(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([1], [True]),
        ([1], [1.0]),
        ([1], ["1"]),
        (["1"], [b"1"]),
        ([1, 2], [2, 1]),
        ([None], [[None]]),
        ([1, 2], (1, 2)),
        ({"a": 1}, {"a": 2}),
        ([datetime.date(2024, 1, 2)], [datetime.date(2024, 1, 3)]),
    ],
)
def test_different_parameters_hash_apart(first: Any, second: Any) -> None:
    """Parameters that differ in value or type hash differently."""
    assert instrument._params_hash(first) != instrument._params_hash(second)


def test_an_unprintable_parameter_hashes_without_raising() -> None:
    """A parameter whose repr() raises still gets a hash."""
    assert isinstance(instrument._params_hash([Unprintable()]), int)


def test_a_large_parameter_is_hashed_without_a_copy() -> None:
    """Hashing a 20 MB blob allocates far less than the blob itself."""
    blob = b"x" * (20 * 1024 * 1024)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        instrument._params_hash([blob])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not tracing:
            tracemalloc.stop()
    assert peak - before < 1024 * 1024


def test_stored_parameters_whose_repr_raises_still_report(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """An unprintable stored parameter is shown by type; reports still build."""
    with override_settings(PERFPROBE={"STORE_SQL_PARAMETERS": True}):
        record_directly("SELECT %s", [Unprintable()])
        (event,) = recorded_queries()
        assert event.to_dict()["params"] == "<unrepresentable list>"
        assert "unrepresentable" in fresh_monitor.generate_report().to_json()


def test_stored_parameters_are_not_copied_for_the_report(
    recorded_queries: Queries,
) -> None:
    """A parameter that cannot be deep-copied, such as a lock, is still shown."""
    with override_settings(PERFPROBE={"STORE_SQL_PARAMETERS": True}):
        record_directly("SELECT %s", [threading.Lock()])
    (event,) = recorded_queries()
    assert event.to_dict()["params"].startswith("[<unlocked _thread.lock object")


def test_instrument_database_is_read_live(recorded_queries: Queries) -> None:
    """Switched off by override_settings, queries pass unrecorded; back on, recorded."""
    with override_settings(PERFPROBE={"INSTRUMENT_DATABASE": False}):
        assert Customer.objects.count() == 0
    assert recorded_queries() == []
    assert Customer.objects.count() == 0
    assert len(recorded_queries()) == 1


@pytest.fixture(params=["c", "stack", "python"])
def stack_walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the C Walker, the C stack walk, then the Python walk.

    The C ones where they are built: the recorder takes the Walker
    (``callsite._origin``), else ``stack_origin()``, which takes the C stack
    walk (``callsite._walk_stack``), else the Python walk.
    """
    if request.param != "python" and callsite._origin is None:
        pytest.skip("the C stack walk is not built (or PERFPROBE_PURE_PYTHON is set)")
    if request.param != "c":
        monkeypatch.setattr(callsite, "_origin", None)
    if request.param == "python":
        monkeypatch.setattr(callsite, "_walk_stack", None)
    return str(request.param)


def waiting_records(monitor: PerformanceMonitor) -> list[list[Any]]:
    """Return the raw query records waiting in every thread's log."""
    return [
        record for log in monitor.collector.thread_logs.logs for record in log.queries
    ]


def test_a_direct_call_from_user_code_names_its_line(
    stack_walk: str, fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Called straight from here, the recorder's raw record names this line."""

    def execute(*args: Any) -> str:
        return "answer"

    context = {"connection": connection}
    line = caller_line() + 1
    result = instrument.recorder(execute, "SELECT 1", (), False, context)
    assert result == "answer"
    # Waiting raw in the log: the common path took it.
    (record,) = waiting_records(fresh_monitor)
    assert record[7] == f"{THIS_FILE}:{line}"
    (event,) = recorded_queries()
    assert event.call_site == f"{THIS_FILE}:{line}"


def test_a_direct_call_that_raises_names_its_line(
    stack_walk: str,
    each_recorder: str,
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Queries,
) -> None:
    """The eager path, taken for a raising query, names the same line."""
    boom = RuntimeError("boom")

    def execute(*args: Any) -> None:
        raise boom

    context = {"connection": connection}
    with pytest.raises(RuntimeError) as excinfo:
        line = caller_line() + 1
        instrument.recorder(execute, "SELECT 1", (), False, context)
    assert excinfo.value is boom
    # The traceback runs from this test through the recorder to execute();
    # the C recorder has no frame of its own. A walk it cannot do in C is
    # the Python recorder's, whole.
    names = [entry.name for entry in excinfo.traceback]
    if each_recorder == "c" and stack_walk == "c":
        assert names[-2:] == [
            "test_a_direct_call_that_raises_names_its_line",
            "execute",
        ]
    else:
        assert names[-2:] == ["python_recorder", "execute"]
    assert waiting_records(fresh_monitor) == []
    (event,) = recorded_queries()
    assert (event.call_site, event.error_type) == (
        f"{THIS_FILE}:{line}",
        "RuntimeError",
    )


def test_a_failing_walk_is_logged_and_the_result_returned(
    stack_walk: str,
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the common path's walk is logged; the query answers, unrecorded."""

    def broken(*args: Any) -> None:
        raise ValueError("walk bug")

    if stack_walk == "c":
        monkeypatch.setattr(callsite, "_origin", broken)
    elif stack_walk == "stack":
        monkeypatch.setattr(callsite, "_walk_stack", broken)
    else:
        monkeypatch.setattr(instrument, "stack_origin", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe.db"):
        assert Customer.objects.count() == 0
    (record,) = caplog.records
    assert record.name == "perfprobe.db"
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert waiting_records(fresh_monitor) == []


class UnhashableSql(str):
    """SQL in a str subclass that cannot be hashed (as one defining __eq__)."""

    def __hash__(self) -> int:
        raise TypeError(f"unhashable type: {type(self).__name__!r}")


def test_sql_in_an_unhashable_str_subclass_costs_no_other_query(
    fresh_monitor: PerformanceMonitor, recorded_queries: Queries
) -> None:
    """Its query is recorded as plain text, and the fold keeps the others."""

    def execute(*args: Any) -> int:
        return 1

    context = {"connection": connection, "cursor": None}
    for sql in ["SELECT 1", UnhashableSql("SELECT 2"), "SELECT 3"]:
        instrument.recorder(execute, sql, (), False, context)
    with pytest.raises(ZeroDivisionError):
        instrument.recorder(
            lambda *args: 1 / 0, UnhashableSql("SELECT 4"), (), False, context
        )

    events = recorded_queries()
    assert [(event.fingerprint, event.error_type) for event in events] == [
        ("SELECT ?", None),
        ("SELECT ?", None),
        ("SELECT ?", None),
        ("SELECT ?", "ZeroDivisionError"),
    ]
    assert {type(event.sql) for event in events} == {str}


def test_the_c_recorder_keeps_a_quiet_query_without_python_code(
    each_recorder: str, fresh_monitor: PerformanceMonitor
) -> None:
    """With the C recorder a quiet query runs no Python code of the recorder's.

    Only the Python recorder's frames (its whole call, or the eager path)
    would show; the query is kept raw all the same.
    """
    if each_recorder != "c":
        pytest.skip("the C recorder's own path")
    # Warm: the settings read and the thread's log registered.
    assert Customer.objects.count() == 0
    fresh_monitor.reset()
    ran: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename == instrument.__file__:
            ran.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        assert Customer.objects.count() == 0
    finally:
        sys.setprofile(None)
    assert ran == []
    (record,) = waiting_records(fresh_monitor)
    assert record[7] is not None and record[7].startswith(f"{THIS_FILE}:")


def test_a_call_by_keyword_reaches_execute_and_is_recorded(
    recorded_queries: Queries,
) -> None:
    """The recorder takes its arguments by keyword too (Django passes them in order)."""
    seen: list[tuple[Any, ...]] = []

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> str:
        seen.append((sql, params, many))
        return "answer"

    result = instrument.recorder(
        execute=execute,
        sql="SELECT 1",
        params=(),
        many=False,
        context={"connection": connection},
    )
    assert result == "answer"
    assert seen == [("SELECT 1", (), False)]
    (event,) = recorded_queries()
    assert event.call_site is not None and event.call_site.startswith(THIS_FILE)


def test_the_clocks_put_in_place_time_the_next_query(
    monkeypatch: pytest.MonkeyPatch, recorded_queries: Queries
) -> None:
    """instrument's two clocks are read at each query, replaced or not."""
    ticks = itertools.count(1_000_000_000, 2_500_000)
    monkeypatch.setattr(instrument, "_perf_counter_ns", lambda: next(ticks))
    monkeypatch.setattr(instrument, "_time", lambda: 1234.5)
    assert Customer.objects.count() == 0
    (event,) = recorded_queries()
    assert (event.duration_s, event.started_at) == (0.0025, 1234.5)


def test_without_the_c_record_keep_a_spare_record_is_filled_again(
    monkeypatch: pytest.MonkeyPatch, fresh_monitor: PerformanceMonitor
) -> None:
    """With ``_keep_record`` None the raw record is kept the Python way."""
    monkeypatch.setattr(instrument, "_keep_record", None)
    spare = fresh_monitor.collector.thread_logs.spare
    old: list[Any] = [None] * 13
    spare.append(old)
    assert Customer.objects.count() == 0
    assert Customer.objects.exists() is False
    first, second = waiting_records(fresh_monitor)
    # The spare record first, then a new list once none is left.
    assert first is old and second is not old
    assert [len(first), len(second)] == [13, 13]
    assert "COUNT" in first[2] and "LIMIT 1" in second[2]
    assert first[7].startswith(f"{THIS_FILE}:")


class FakeConnection:
    """What the recorder's common path reads of a connection."""

    def __init__(self, alias: str, vendor: str = "sqlite") -> None:
        self.alias = alias
        self.vendor = vendor


class SlottedConnection:
    """A connection that cannot be weakly referenced."""

    __slots__ = ("alias", "vendor")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.vendor = "postgresql"


def test_each_query_names_its_own_connection(fresh_monitor: PerformanceMonitor) -> None:
    """Queries on connections taken by turns keep each one's alias and vendor."""

    def execute(*args: Any) -> None:
        return None

    first, second = FakeConnection("first"), FakeConnection("second", "mysql")
    slotted = SlottedConnection("slotted")
    for conn in (first, second, first, slotted, slotted, first, connection):
        instrument.recorder(execute, "SELECT 1", (), False, {"connection": conn})
    names = [(record[0], record[1]) for record in waiting_records(fresh_monitor)]
    assert names == [
        ("first", "sqlite"),
        ("second", "mysql"),
        ("first", "sqlite"),
        ("slotted", "postgresql"),
        ("slotted", "postgresql"),
        ("first", "sqlite"),
        ("default", connection.vendor),
    ]


def test_pure_python_loads_no_c_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    """With PERFPROBE_PURE_PYTHON set the recorder to install is the Python one."""
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert instrument._load_recorder() is None


def test_a_thread_log_missing_a_slot_is_logged_and_the_result_returned(
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unset slot of the thread log is a failure in perfprobe, not the query's."""
    assert Customer.objects.count() == 0
    log = fresh_monitor.collector.thread_logs.local.log
    monkeypatch.delattr(log, "spare")
    with caplog.at_level(logging.ERROR, logger="perfprobe.db"):
        assert Customer.objects.count() == 0
    (record,) = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is AttributeError
    monkeypatch.undo()
    assert Customer.objects.count() == 0
    assert len(waiting_records(fresh_monitor)) == 2


class InterruptedMark:
    """A current mark whose first ``suppressed`` read is interrupted.

    As a signal handler raising ``KeyboardInterrupt`` in the Python code a
    request scope runs when first asked; then it reads suppressed.
    """

    is_mark = True

    def __init__(self) -> None:
        self.reads = 0

    @property
    def suppressed(self) -> bool:
        self.reads += 1
        if self.reads == 1:
            raise KeyboardInterrupt
        return True


def test_an_interruption_before_the_query_passes_through(
    recorded_queries: Queries,
) -> None:
    """A ``KeyboardInterrupt`` raised while the recorder looks is not swallowed."""
    ran: list[str] = []

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> str:
        ran.append(sql)
        return "answer"

    assert Customer.objects.count() == 0  # the settings read
    token = current_scope.set(InterruptedMark())  # type: ignore[arg-type]
    try:
        with pytest.raises(KeyboardInterrupt):
            instrument.recorder(
                execute, "SELECT 1", (), False, {"connection": connection}
            )
    finally:
        current_scope.reset(token)

    assert ran == []
    assert len(recorded_queries()) == 1
