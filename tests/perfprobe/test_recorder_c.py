"""Tests for _recorder.Recorder: the recorder's common path in C, against Python.

``QueryRecorder.python_call`` (and ``_record``) is the definition; where
the C base is built, the recorder's call takes ordinary queries itself and
hands the rest to that Python code. Each test runs with the recorder as
installed (C where built) and, where it compares, once more through
``python_call``.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from apps.shop.models import Customer, Order
from perfprobe import PerformanceMonitor
from perfprobe.db import instrument
from perfprobe.db.instrument import QueryRecorder
from perfprobe.failures import failure_counts, reset_failures

from .test_framewalk import make_orders

try:
    from perfprobe.db import _recorder
except ImportError:  # pragma: no cover - depends on the build
    _recorder = None  # type: ignore[assignment]

pytestmark = pytest.mark.django_db

UPDATE = "UPDATE shop_customer SET name = name WHERE id = %s"
C_BUILT = "__call__" not in vars(QueryRecorder)
needs_c = pytest.mark.skipif(
    not C_BUILT and not os.environ.get("PERFPROBE_REQUIRE_EXTENSION"),
    reason="the C extension perfprobe.db._recorder is not built or turned off",
)


@pytest.fixture
def python_records() -> Iterator[list[int]]:
    """Count the calls of ``_record`` (the Python path after the query).

    Counted by a profile function, which adds no frame to the stack that
    the walk reads (a wrapper in this file would be the call site).
    """
    calls = [0]
    code = QueryRecorder._record.__code__

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            calls[0] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


def use_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the recorder's call the Python one, ``python_call``."""
    monkeypatch.setattr(QueryRecorder, "__call__", QueryRecorder.python_call)


def waiting_records(monitor: PerformanceMonitor) -> list[list[Any]]:
    """Return copies of the raw query records waiting in this thread's log."""
    log = monitor.collector.thread_logs.local.log
    return [list(record) for record in log.queries]


def workload() -> tuple[list[str], int]:
    """Run a fixed mix of queries; return what they read and the loop's line."""
    names = [order.customer.name for order in Order.objects.all()]  # N+1 line
    line = sys._getframe().f_lineno - 1
    counts = [customer.orders.count() for customer in Customer.objects.all()]
    for _ in range(2):
        list(Customer.objects.filter(name="c0"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s, %s", [1, "x"])
    return [*names, *map(str, counts)], line


def record_workload(monitor: PerformanceMonitor) -> list[list[Any]]:
    """Run ``workload()`` in a scope; return its raw records before the close."""
    monitor.collector.snapshot()
    with monitor.scope("mix") as scope:
        result, line = workload()
        records = waiting_records(monitor)
    assert result == ["c0", "c1", "c2", "1", "1", "1"]
    assert all(record[6] is scope for record in records)
    # Ground truth from the source: the N+1 line ran the orders query and
    # three lazy loads of a customer; the counts are lazy loads too.
    loop = [r for r in records if r[7].endswith(f"test_recorder_c.py:{line}")]
    assert [r[9] is not None for r in loop] == [False, True, True, True]
    assert sum(r[9] is not None for r in records) == 6
    return records


@needs_c
def test_the_c_call_keeps_the_same_raw_records_as_python(
    fresh_monitor: PerformanceMonitor,
    python_records: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mix of lazy loads, repeats and raw SQL: the same 13 items both ways."""
    make_orders(3)
    gc.collect()

    c_records = record_workload(fresh_monitor)
    assert python_records[0] == 0, "the C call sent a plain query to _record"
    use_python(monkeypatch)
    python = record_workload(fresh_monitor)

    # 1 orders + 3 customers, 1 customers + 3 counts, 2 repeats, 1 raw.
    assert len(c_records) == len(python) == 11
    assert python_records[0] == 11
    for c, py in zip(c_records, python, strict=True):
        assert len(c) == len(py) == 13
        assert c[:3] == py[:3] and c[5] == py[5]
        assert isinstance(c[3], float) and 0 <= c[3] < 5
        assert isinstance(c[4], float)
        assert c[7:9] == py[7:9] and c[10:] == py[10:]
        assert (c[9] and c[9].to_dict()) == (py[9] and py[9].to_dict())


@needs_c
def test_findings_are_the_same_both_ways(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scope's N+1 and duplicate findings after the fold: equal both ways."""
    make_orders(6)

    def findings() -> tuple[Any, ...]:
        fresh_monitor.reset()
        with fresh_monitor.scope("mix"):
            workload()
        (summary,) = fresh_monitor.collector.snapshot().scopes
        return (
            summary.query_count,
            [
                (n.fingerprint, n.count, n.distinct_params, n.call_site)
                for n in summary.n_plus_one
            ],
            [(d.fingerprint, d.count, d.call_sites) for d in summary.duplicates],
        )

    c = findings()
    use_python(monkeypatch)
    python = findings()
    # Findings of equal count come in the order of their time.
    c[1].sort()
    python[1].sort()

    assert c == python
    # 1 + 6 orders, 1 + 6 counts, 2 repeats, 1 raw; the loop's lazy loads
    # and the counts are N+1s, the repeats a duplicate.
    assert c[0] == 17
    assert sorted(count for _, count, _, _ in c[1]) == [6, 6]
    assert [count for _, count, _ in c[2]] == [2]


@needs_c
def test_an_exception_passes_through_unchanged_and_is_recorded(
    recorded_queries: Callable[[], list[Any]], python_records: list[int]
) -> None:
    """The very exception execute() raised, its traceback intact; one error."""
    boom = RuntimeError("boom")

    def raiser(*args: Any) -> None:
        raise boom

    with connection.execute_wrapper(raiser):
        with pytest.raises(RuntimeError) as info:
            list(Customer.objects.all())
        line = sys._getframe().f_lineno - 1

    assert info.value is boom
    frames = [
        frame.f_code.co_name for frame, _ in traceback.walk_tb(boom.__traceback__)
    ]
    assert frames[-1] == "raiser"
    errors = [event for event in recorded_queries() if event.error_type]
    assert [event.error_type for event in errors] == ["RuntimeError"]
    assert errors[0].call_site.endswith(f"test_recorder_c.py:{line}")
    # Recorded the eager way (the errors table), through _record.
    assert python_records[0] == 1


@needs_c
def test_a_failure_inside_the_c_path_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken batch size: the query's result comes back, the failure logged."""
    reset_failures()
    monkeypatch.setattr(instrument, "QUERY_BATCH", "not a number")

    with caplog.at_level(logging.ERROR, logger="perfprobe.db"):
        rows = [Customer.objects.filter(pk=1).count() for _ in range(3)]

    assert rows == [0, 0, 0]
    assert failure_counts()[("perfprobe.db", "record-query")] == 3
    logged = [r for r in caplog.records if r.name == "perfprobe.db"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert logged[0].exc_info[0] is TypeError


@needs_c
def test_unusual_queries_go_to_the_python_path(
    recorded_queries: Callable[[], list[Any]],
    python_records: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A slow query (tiny threshold) and a batch: recorded by the Python code."""
    with override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": 1e-9}):
        with caplog.at_level(logging.WARNING, logger="perfprobe.db"):
            Customer.objects.filter(pk=1).count()
            line = sys._getframe().f_lineno - 1
    assert python_records[0] == 1
    assert any("Slow query" in r.getMessage() for r in caplog.records)
    # _record walks from the right frame when the C call hands it a query.
    (slow,) = recorded_queries()
    assert slow.call_site.endswith(f"test_recorder_c.py:{line}")

    with connection.cursor() as cursor:
        cursor.executemany(UPDATE, [[1], [2], [3]])
    batches = [event for event in recorded_queries() if event.many]
    assert [event.batch_size for event in batches] == [3]


@needs_c
def test_settings_changes_take_effect_at_the_next_query(
    recorded_queries: Callable[[], list[Any]],
) -> None:
    """Recording off, then on again: only the queries run while on count."""
    Customer.objects.filter(pk=1).count()
    with override_settings(PERFPROBE={"ENABLED": False}):
        Customer.objects.filter(pk=2).count()
    Customer.objects.filter(pk=3).count()

    assert len(recorded_queries()) == 2


@needs_c
def test_no_references_leak_over_thousands_of_queries(
    fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain, raising, batch and failing calls: no growth after warm-up.

    The recorder is called directly with an execute() of the test's own,
    so that Django's bounded query log (9,000 entries) does not count.
    """
    sql = "".join(["SELECT ", "%s"])
    params = [7]
    result = object()
    context = {"connection": connection, "cursor": None}
    recorder = instrument.recorder
    reset_failures()

    def execute(*args: Any) -> object:
        return result

    def raiser(*args: Any) -> None:
        # A new one each time: raising one instance again would extend its
        # traceback, which holds the frames (and their arguments).
        raise RuntimeError("boom")

    def one_round(count: int) -> None:
        for _ in range(count):
            assert recorder(execute, sql, params, False, context) is result
        for _ in range(count // 10):
            with pytest.raises(RuntimeError):
                recorder(raiser, sql, params, False, context)
            recorder(execute, sql, [params], True, context)
        with monkeypatch.context() as broken:
            broken.setattr(instrument, "QUERY_BATCH", "not a number")
            for _ in range(count // 10):
                recorder(execute, sql, params, False, context)

    def measure() -> tuple[int, ...]:
        fresh_monitor.collector.snapshot()
        gc.collect()
        return (
            sys.getrefcount(sql),
            sys.getrefcount(params),
            sys.getrefcount(result),
            sys.getrefcount(context),
            sys.getallocatedblocks(),
        )

    # The collector's bounded tables fill up first (the errors most slowly).
    for _ in range(16):
        one_round(1000)
    before = measure()
    for _ in range(3):
        one_round(1000)
    after = measure()

    assert after[:4] == before[:4]
    assert after[4] - before[4] < 200
    assert failure_counts()[("perfprobe.db", "record-query")] == 1900


def test_the_pure_python_switch_keeps_python_call() -> None:
    """With PERFPROBE_PURE_PYTHON set, the recorder's call is python_call."""
    code = (
        "import django, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'demo_site.settings'\n"
        "django.setup()\n"
        "from perfprobe.db.instrument import QueryRecorder as Q\n"
        "print(Q.__call__ is Q.python_call, Q.__mro__[1].__name__)\n"
    )
    env = {**os.environ, "PERFPROBE_PURE_PYTHON": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "object"]


def test_the_extension_is_there_when_required() -> None:
    """With PERFPROBE_REQUIRE_EXTENSION set, the C call must be in use."""
    if not os.environ.get("PERFPROBE_REQUIRE_EXTENSION"):
        pytest.skip("PERFPROBE_REQUIRE_EXTENSION is not set")
    assert _recorder is not None
    assert C_BUILT
    assert QueryRecorder.__mro__[1] is _recorder.Recorder
