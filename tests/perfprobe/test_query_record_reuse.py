"""Raw query records the recent events let go of are filled again, not remade."""

from __future__ import annotations

import gc
import inspect
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from django.db import connection

from perfprobe import PerformanceMonitor
from perfprobe.db import callsite
from perfprobe.events import RAW_DURATION_S, QueryEvent
from perfprobe.querylog import QUERY_BATCH
from perfprobe.rawrecords import RAW_LENGTH, keep_record, recycle_records
from perfprobe.sketch import load_fold
from perfprobe.suppression import request_mark

from .finalisers import gc_paused

pytestmark = pytest.mark.django_db

c_keep_record = load_fold("keep_record")
c_recycle_records = load_fold("recycle_records")
#: The default RECENT_EVENTS_SIZE.
RECENT = 1000


def run_statements(names: list[str]) -> None:
    """Run ``SELECT %s AS <name>`` once per name, on the raw query path."""
    with connection.cursor() as cursor:
        for index, name in enumerate(names):
            cursor.execute(f"SELECT %s AS {name}", [index])


def query_events(monitor: PerformanceMonitor) -> list[QueryEvent]:
    """Return the recent query events of a fresh snapshot, oldest first."""
    snapshot = monitor.collector.snapshot()
    return [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]


def raw(tag: int) -> list[Any]:
    """Return a raw query record marked by ``tag`` (its duration)."""
    record: list[Any] = [None] * RAW_LENGTH
    record[RAW_DURATION_S] = float(tag)
    return record


RECYCLERS = [
    pytest.param(recycle_records, id="python"),
    pytest.param(
        c_recycle_records,
        id="c",
        marks=pytest.mark.skipif(c_recycle_records is None, reason="not built"),
    ),
]
KEEPERS = [
    pytest.param(keep_record, id="python"),
    pytest.param(
        c_keep_record,
        id="c",
        marks=pytest.mark.skipif(c_keep_record is None, reason="not built"),
    ),
]


@pytest.mark.parametrize("recycle", RECYCLERS)
def test_recycling_keeps_only_records_held_by_nothing_else_up_to_the_bound(
    recycle: Any,
) -> None:
    """Three of six records are free, the bound two: the two oldest free kept."""
    records = [raw(tag) for tag in range(6)]
    held = [records[1], records[3]]  # as the slowest queries would hold them
    timer_record = ["timer", 0.1, 0.0, None, None, None]
    recent: deque[Any] = deque([*records, timer_record, "event"])
    made = list(map(id, records))
    del records
    spare: list[list[Any]] = []

    recycle(recent, 6, spare, 2)

    assert list(map(id, spare)) == [made[0], made[2]]
    # Emptied: nothing kept alive by a spare record.
    assert spare == [[None] * RAW_LENGTH] * 2
    assert list(recent) == [timer_record, "event"]
    assert held[0][RAW_DURATION_S] == 1.0

    # Never more than asked, nor more than there is.
    recycle(recent, 1, spare, 10)
    assert list(recent) == ["event"]
    recycle(recent, 5, spare, 10)
    assert not recent
    assert len(spare) == 2


@pytest.mark.parametrize("keep", KEEPERS)
def test_keeping_a_record_fills_the_last_spare_one_else_makes_one(keep: Any) -> None:
    """Two spare records, three kept: the last spare, the other, then a new list."""
    spare = [raw(1), raw(2)]
    first, second = spare
    queries: list[list[Any]] = [raw(0)]
    rows = [tuple(range(tag, tag + RAW_LENGTH)) for tag in (10, 20, 30)]

    assert [keep(queries, spare, row) for row in rows] == [2, 3, 4]

    assert queries[1] is second and queries[2] is first
    assert queries[3] is not first and queries[3] is not second
    assert [tuple(record) for record in queries[1:]] == rows
    assert [type(record) for record in queries] == [list] * 4
    assert spare == []


def test_recent_events_are_the_newest_queries_in_order_after_records_are_reused(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """2,600 distinct statements: the recent events are the last 1,000, in order."""
    names = [f"c{index}" for index in range(2600)]
    run_statements(names)

    events = query_events(fresh_monitor)
    assert [e.fingerprint for e in events] == [
        f"SELECT ? AS {name}" for name in names[-RECENT:]
    ]
    assert fresh_monitor.collector.thread_logs.spare, "no record was reused"
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 2600


def test_a_read_gives_the_records_it_made_events_of_to_the_next_queries(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """After a snapshot the next 255 queries fill records the read let go of.

    A read makes events of the raw records in the recent events; before, the
    records it replaced were freed, and the next 1,000 queries made new lists.
    """
    names = [f"c{index}" for index in range(2 * RECENT)]
    run_statements(names)
    collector = fresh_monitor.collector
    collector.fold_queries()
    spare = collector.thread_logs.spare
    spare.clear()

    before = query_events(fresh_monitor)

    # The slowest queries (MAX_SLOW_QUERIES) may hold theirs; the rest are free.
    slow_kept = fresh_monitor.collector.snapshot().slowest_queries
    assert RECENT - len(slow_kept) <= len(spare) <= RECENT
    assert spare == [[None] * RAW_LENGTH] * len(spare)
    given = {id(record) for record in spare}
    # The events read stay whole.
    assert [e.fingerprint for e in before] == [
        f"SELECT ? AS {name}" for name in names[-RECENT:]
    ]

    # One short of the batch a thread folds by itself.
    after = [f"d{index}" for index in range(QUERY_BATCH - 1)]
    run_statements(after)
    queries = collector.thread_logs.register().queries
    assert len(queries) == len(after)
    assert {id(record) for record in queries} <= given
    assert len(spare) == len(given) - len(after)
    events = query_events(fresh_monitor)
    assert [e.fingerprint for e in events] == [
        f"SELECT ? AS {name}" for name in (names + after)[-RECENT:]
    ]
    assert [e.fingerprint for e in before] == [
        f"SELECT ? AS {name}" for name in names[-RECENT:]
    ]


def test_a_slowest_query_keeps_its_record_while_others_are_reused(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The slowest query (slept 30 ms in) is still itself 3,000 queries later."""

    def slow_one(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if "AS slow" in sql:
            time.sleep(0.03)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(slow_one):
        run_statements(["slow"])
        run_statements([f"c{index}" for index in range(3000)])

    slowest = fresh_monitor.collector.snapshot().slowest_queries[0]
    assert slowest.fingerprint == "SELECT ? AS slow"
    assert slowest.duration_s >= 0.03
    assert slowest.params_hash != 0


def test_threads_sharing_the_spare_records_keep_their_own_queries(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Two threads, 1,500 statements each: every event is its thread's own."""
    idents: dict[str, int] = {}

    def work(tag: str) -> None:
        try:
            idents[tag] = threading.get_ident()
            run_statements([f"{tag}{index % 50}" for index in range(1500)])
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()

    events = query_events(fresh_monitor)
    assert len(events) == RECENT
    for event in events:
        tag = event.fingerprint.split(" AS ")[1][0]
        assert event.thread_id == idents[tag]
    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 3000


@pytest.mark.skipif(
    callsite._origin is None,
    reason="the pure-Python parameter hash adds about one count a query",
)
def test_queries_once_the_recent_events_are_full_leave_the_young_count_flat(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The generation-0 count rises by less than 128 over 1,024 queries.

    A new list a query, kept until the recent events let it go, raised it
    by one a query until the batch was folded: 255 before a fold. Measured
    against the same queries unmonitored, since a driver may keep objects of
    its own (psycopg raised it by about one a query).
    """
    # The recent events full of raw records (a read would make them events).
    run_statements(["warm"] * (2 * RECENT))
    fresh_monitor.collector.fold_queries()

    def peak_rise() -> int:
        peak = 0
        with gc_paused(), connection.cursor() as cursor:
            gc.collect()
            start = gc.get_count()[0]
            for index in range(4 * QUERY_BATCH):
                cursor.execute("SELECT %s AS c", [index])
                peak = max(peak, gc.get_count()[0] - start)
        return peak

    with request_mark(True):
        unmonitored = peak_rise()
    monitored = peak_rise()
    assert fresh_monitor.collector.snapshot().query_total.count >= 4 * QUERY_BATCH
    assert monitored - unmonitored < 128, (monitored, unmonitored)


def _lines(function: Callable[..., Any]) -> list[int]:
    source, start = inspect.getsourcelines(function)
    return [start + offset for offset in range(len(source))]


@pytest.mark.parametrize("line", _lines(recycle_records))
def test_a_tracer_reading_the_locals_never_makes_a_held_record_spare(
    line: int,
) -> None:
    """A debugger stopped on any one line of the Python recycle_records.

    Reading ``frame.f_locals`` keeps a reference to each local then bound:
    the record held by ``held`` as well must stay whole whatever line that
    happened on (a probe counted once before the loop showed one more
    reference than a record held by nothing else).
    """
    code = recycle_records.__code__

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == line:
            assert frame.f_locals is not None
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code is code else None

    held = [raw(1)]
    recent: deque[Any] = deque([held[0], raw(2), held[0]])
    spare: list[list[Any]] = []
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        recycle_records(recent, 3, spare, 10)
    finally:
        sys.settrace(previous)

    assert held[0][RAW_DURATION_S] == 1.0
    assert all(record is not held[0] for record in spare)
