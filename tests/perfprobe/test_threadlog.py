"""Tests for perfprobe.threadlog: timer blocks kept per thread until read."""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.events import Event, OperationEvent
from perfprobe.threadlog import BATCH_SIZE


@pytest.fixture
def mon() -> PerformanceMonitor:
    """Return a monitor with its own collector."""
    return PerformanceMonitor(Collector())


def run_in_thread(target: object, name: str = "worker") -> None:
    """Run ``target`` in a new thread and wait for it to end."""
    thread = threading.Thread(target=target, name=name)  # type: ignore[arg-type]
    thread.start()
    thread.join()


def test_blocks_of_a_finished_thread_are_counted(mon: PerformanceMonitor) -> None:
    """Three blocks of a thread that ended before the read are all there."""

    def work() -> None:
        for _ in range(3):
            with mon.measure_execution_time("short-lived"):
                pass

    run_in_thread(work, "short-lived-thread")
    snapshot = mon.collector.snapshot()
    assert snapshot.operations["short-lived"][0].count == 3
    names = {e.thread_name for e in snapshot.recent_events}
    assert names == {"short-lived-thread"}


def test_a_scope_counts_blocks_of_a_worker_thread_before_it_closes(
    mon: PerformanceMonitor,
) -> None:
    """A worker's blocks, still in its log, count in the scope closing after it."""
    with mon.scope("job") as scope:

        def work() -> None:
            for _ in range(5):
                with mon.measure_execution_time("step"):
                    pass

        run_in_thread(mon.propagate(work))
        with mon.measure_execution_time("step"):
            pass
    assert scope.summary is not None and scope.summary.operation_count == 6


def test_reset_forgets_blocks_not_yet_added(mon: PerformanceMonitor) -> None:
    """A block that ended before reset() is not in the data after it."""
    with mon.measure_execution_time("before"):
        pass
    mon.reset()
    with mon.measure_execution_time("after"):
        pass
    snapshot = mon.collector.snapshot()
    assert list(snapshot.operations) == ["after"]
    assert [getattr(e, "name", None) for e in snapshot.recent_events] == ["after"]


def test_a_listener_gets_each_block_as_it_ends(mon: PerformanceMonitor) -> None:
    """With a listener, every block reaches it at once, before any read."""
    seen: list[Event] = []
    mon.collector.add_listener(seen.append)
    with mon.scope("outer"), mon.measure_execution_time("heard", tags={"k": "v"}):
        pass
    (event,) = seen
    assert isinstance(event, OperationEvent)
    assert (event.name, event.scope, event.tags) == ("heard", "outer", {"k": "v"})


def test_a_full_log_is_added_by_its_own_thread(mon: PerformanceMonitor) -> None:
    """BATCH_SIZE blocks are in the aggregates before anything is read."""
    for _ in range(BATCH_SIZE):
        with mon.measure_execution_time("batch"):
            pass
    log = mon.collector.thread_logs.local.log
    assert log.records == []
    assert mon.collector.snapshot().operations["batch"][0].count == BATCH_SIZE


def test_recent_events_are_made_once_and_keep_their_order(
    mon: PerformanceMonitor,
) -> None:
    """Records become events in order, the same objects in every snapshot."""
    for name in ("first", "second", "third"):
        with mon.scope("s"), mon.measure_execution_time(name, tags={"n": name}):
            pass
    events = mon.collector.snapshot().recent_events
    assert [(e.name, e.scope, e.tags) for e in events] == [  # type: ignore[union-attr]
        (name, "s", {"n": name}) for name in ("first", "second", "third")
    ]
    again = mon.collector.snapshot().recent_events
    assert all(a is b for a, b in zip(events, again, strict=True))


def test_logs_of_finished_threads_are_dropped(mon: PerformanceMonitor) -> None:
    """Forty threads one after another leave at most a few logs behind."""

    def work() -> None:
        with mon.measure_execution_time("churn"):
            pass

    for index in range(40):
        run_in_thread(work, f"churn-{index}")
        mon.collector.snapshot()
    assert len(mon.collector.thread_logs.logs) <= 2
    assert mon.collector.snapshot().operations["churn"][0].count == 40


def test_thirty_two_threads_give_exact_counts(mon: PerformanceMonitor) -> None:
    """32 threads x 1,000 blocks of one shared timer: exactly 32,000, per scope too."""
    timer = mon.measure_execution_time("shared")

    def work() -> None:
        for _ in range(1_000):
            with timer:
                pass

    with mon.scope("all") as scope:
        threads = [threading.Thread(target=mon.propagate(work)) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert mon.collector.snapshot().operations["shared"][0].count == 32_000
    assert scope.summary is not None and scope.summary.operation_count == 32_000


def test_a_thread_that_may_reuse_a_finished_threads_id_gets_its_own_log(
    mon: PerformanceMonitor,
) -> None:
    """Five threads one after another, two blocks each: ten blocks, two per name.

    A thread started after another has ended often gets the same id (and
    thread state); each thread's blocks are counted once, under its own name.
    """
    idents: list[int | None] = []

    def work() -> None:
        idents.append(threading.get_ident())
        for _ in range(2):
            with mon.measure_execution_time("one-after-another"):
                pass

    for number in range(5):
        run_in_thread(work, f"worker-{number}")
    snapshot = mon.collector.snapshot()
    assert snapshot.operations["one-after-another"][0].count == 10
    names = [e.thread_name for e in snapshot.recent_events]
    assert sorted(names) == sorted(f"worker-{n}" for n in range(5) for _ in "ab")
    if len(set(idents)) == len(idents):
        pytest.skip("no thread id was given out again in this run")


def test_blocks_go_to_the_collector_the_monitor_has_when_they_start(
    mon: PerformanceMonitor,
) -> None:
    """One block before and two after replacing the collector: 1 and 2, no more."""
    first = mon.collector
    with mon.measure_execution_time("swapped"):
        pass
    second = mon.collector = Collector()
    for _ in range(2):
        with mon.measure_execution_time("swapped"):
            pass
    assert first.snapshot().operations["swapped"][0].count == 1
    assert second.snapshot().operations["swapped"][0].count == 2


def test_a_block_open_across_a_reset_is_counted_once_after_it(
    mon: PerformanceMonitor,
) -> None:
    """A block that ends after ``reset()`` is its only measurement, once."""
    with mon.measure_execution_time("before"):
        pass
    with mon.measure_execution_time("across"):
        mon.reset()
    operations = mon.collector.snapshot().operations
    assert set(operations) == {"across"}
    assert operations["across"][0].count == 1


@pytest.mark.django_db
def test_plain_tagged_and_scoped_blocks_and_requests_become_their_events(
    fresh_monitor: PerformanceMonitor, client: Client, settings: Settings
) -> None:
    """Each kind of raw item in the recent buffer is made its own event, in order.

    A block with neither scope nor tags is kept as a tuple of six, a request
    in whose scope nothing was recorded as a pair: both are tuples.
    """
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    mon = fresh_monitor
    with mon.measure_execution_time("plain"):
        pass
    assert client.get("/sleepy/").status_code == 200
    with mon.measure_execution_time("tagged", tags={"shop": "eu"}):
        pass
    with mon.scope("job"), mon.measure_execution_time("scoped"):
        pass
    with mon.measure_execution_time("plain"):
        pass
    events = mon.collector.snapshot().recent_events
    seen = [
        (e.name, e.scope, e.tags, e.thread_id)
        if isinstance(e, OperationEvent)
        else (type(e).__name__, e.route)  # type: ignore[attr-defined]
        for e in events
    ]
    me = threading.get_ident()
    assert seen == [
        ("plain", None, {}, me),
        ("RequestEvent", "/sleepy/"),
        ("tagged", None, {"shop": "eu"}, me),
        ("scoped", "job", {}, me),
        ("plain", None, {}, me),
    ]
    # Each event has a tags dict of its own.
    assert events[0].tags is not events[4].tags  # type: ignore[union-attr]


class _HostileName(str):
    """A timer name whose hashing and comparison raise, as a user's class may."""

    def __hash__(self) -> int:
        raise RuntimeError("hostile hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("hostile eq")


def test_a_str_subclass_name_loses_no_block_and_breaks_no_read() -> None:
    """Names are kept as plain str: a subclass's own hash or eq never runs."""
    mon = PerformanceMonitor(Collector())
    with mon.measure_execution_time("plain"):
        pass
    with mon.measure_execution_time(_HostileName("hostile")):
        pass
    with mon.measure_execution_time("plain"):
        pass
    snapshot = mon.collector.snapshot()
    counts = {name: stats[0].count for name, stats in snapshot.operations.items()}
    assert counts == {"plain": 2, "hostile": 1}
    assert {type(name) for name in snapshot.operations} == {str}
    assert [type(e.name) for e in snapshot.recent_events] == [str, str, str]
