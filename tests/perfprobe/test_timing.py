"""Tests for perfprobe.timing: measure_execution_time as block and decorator."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import markcoroutinefunction, sync_to_async
from django.test import override_settings

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.events import OperationEvent
from perfprobe.threadlog import BATCH_SIZE


@pytest.fixture
def mon() -> PerformanceMonitor:
    """Return a monitor with its own collector."""
    return PerformanceMonitor(Collector())


def test_block_measures_a_known_sleep(mon: PerformanceMonitor) -> None:
    """A 50 ms sleep is measured as at least 50 ms and well under a second."""
    with mon.measure_execution_time("nap", tags={"kind": "sleep"}):
        time.sleep(0.05)
    (event,) = mon.collector.snapshot().recent_events
    assert 0.05 <= event.duration_s < 0.5
    assert event.tags == {"kind": "sleep"}
    assert event.thread_name == threading.current_thread().name
    assert event.error_type is None


def test_decorator_counts_every_call(mon: PerformanceMonitor) -> None:
    """Each call of a decorated function is one measurement of that name."""

    @mon.measure_execution_time("square")
    def square(x: int) -> int:
        return x * x

    assert [square(i) for i in range(4)] == [0, 1, 4, 9]
    summary, errors = mon.collector.snapshot().operations["square"]
    assert summary.count == 4
    assert errors == {}


def test_async_decorator_measures_awaited_time(mon: PerformanceMonitor) -> None:
    """An async function's awaited sleep is inside its measurement."""

    @mon.measure_execution_time("async_nap")
    async def nap() -> str:
        await asyncio.sleep(0.03)
        return "done"

    assert asyncio.run(nap()) == "done"
    summary, _ = mon.collector.snapshot().operations["async_nap"]
    assert summary.count == 1 and 0.03 <= summary.max < 0.5


def test_async_with_block(mon: PerformanceMonitor) -> None:
    """``async with`` measures the awaited body."""

    async def body() -> None:
        async with mon.measure_execution_time("awith"):
            await asyncio.sleep(0.02)

    asyncio.run(body())
    summary, _ = mon.collector.snapshot().operations["awith"]
    assert 0.02 <= summary.max < 0.5


class CustomError(Exception):
    pass


def test_exception_passes_through_block_unchanged(mon: PerformanceMonitor) -> None:
    """The block's exception is the same object, with cause and traceback kept."""
    cause = KeyError("root")
    raised = CustomError("boom")
    with pytest.raises(CustomError) as info, mon.measure_execution_time("failing"):
        raise raised from cause
    assert info.value is raised
    assert info.value.__cause__ is cause
    assert info.traceback[-1].name == "test_exception_passes_through_block_unchanged"
    summary, errors = mon.collector.snapshot().operations["failing"]
    assert summary.count == 1
    assert errors == {"tests.perfprobe.test_timing.CustomError": 1}


def test_exception_passes_through_decorator_unchanged(mon: PerformanceMonitor) -> None:
    """A decorated function's exception reaches the caller as the same object."""
    raised = ValueError("bad")

    @mon.measure_execution_time("decorated_failure")
    def fail() -> None:
        raise raised

    with pytest.raises(ValueError) as info:
        fail()
    assert info.value is raised
    assert info.traceback[-1].name == "fail"
    (event,) = mon.collector.snapshot().recent_events
    raise_line = info.traceback[-1].lineno + 1
    assert event.raised_at == f"tests/perfprobe/test_timing.py:{raise_line}"
    assert mon.collector.snapshot().errors[0].error_type == "ValueError"


def test_async_exception_passes_through(mon: PerformanceMonitor) -> None:
    """An async function's exception is re-raised unchanged and recorded."""
    raised = RuntimeError("async boom")

    @mon.measure_execution_time("async_failure")
    async def fail() -> None:
        raise raised

    with pytest.raises(RuntimeError) as info:
        asyncio.run(fail())
    assert info.value is raised
    _, errors = mon.collector.snapshot().operations["async_failure"]
    assert errors == {"RuntimeError": 1}


def test_monitor_failure_does_not_reach_user_code(
    mon: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken collector is logged, and the user's blocks still end normally."""

    def broken(*args: object) -> None:
        raise RuntimeError("collector is broken")

    # A finished block waits in its thread's log; a full log is added by
    # fold_thread_log, a failing block at once by record_operation.
    monkeypatch.setattr(mon.collector, "fold_thread_log", broken)
    monkeypatch.setattr(mon.collector, "record_operation", broken)
    results = []
    for index in range(BATCH_SIZE):
        with mon.measure_execution_time("survives"):
            results.append(index)
    assert results == list(range(BATCH_SIZE))
    assert "failed to record operation 'survives'" in caplog.text
    raised = CustomError("mine")
    # Later failures of the same kind are logged at DEBUG.
    with caplog.at_level(logging.DEBUG, logger="perfprobe.timing"):
        with pytest.raises(CustomError) as info, mon.measure_execution_time("fails"):
            raise raised
    assert info.value is raised
    assert "failed to record operation 'fails' again" in caplog.text


def test_scope_and_thread_recorded(mon: PerformanceMonitor) -> None:
    """A measurement inside a scope carries the scope path."""
    with mon.scope("outer"), mon.scope("inner"):
        with mon.measure_execution_time("scoped"):
            pass
    (event,) = mon.collector.snapshot().recent_events
    assert event.scope == "outer/inner"


def test_eight_threads_give_exact_counts(mon: PerformanceMonitor) -> None:
    """8 threads x 10,000 measurements give exactly 80,000, with exact totals."""
    timer = mon.measure_execution_time("hot")

    def work() -> None:
        for _ in range(10_000):
            with timer:
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary, _ = mon.collector.snapshot().operations["hot"]
    assert summary.count == 80_000
    assert summary.min <= summary.p50 <= summary.p99 <= summary.max


def test_empty_name_is_rejected(mon: PerformanceMonitor) -> None:
    """A timer needs a name; an empty one is a ValueError at creation."""
    with pytest.raises(ValueError, match="non-empty name"):
        mon.measure_execution_time("")


def test_a_name_that_is_not_a_str_is_named_in_the_error(
    mon: PerformanceMonitor,
) -> None:
    with pytest.raises(ValueError, match=r"needs a non-empty name \(a str\), not 123$"):
        mon.measure_execution_time(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"not b'x'$"):
        mon.measure_execution_time(b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("tags", ["shop=eu", [("shop", "eu")]])
def test_tags_that_are_not_a_mapping_are_named_in_the_error(
    mon: PerformanceMonitor, tags: object
) -> None:
    """``tags="shop=eu"`` is a TypeError naming tags, not an AttributeError.

    It used to fail inside perfprobe with ``'str' object has no attribute
    'items'``, which named neither the argument nor what it takes.
    """
    kind = type(tags).__name__
    with pytest.raises(
        TypeError, match=rf"takes tags as a dict \(tag: value\), not {kind}$"
    ):
        mon.measure_execution_time("checkout", tags=tags)  # type: ignore[arg-type]
    # Nothing was recorded, and a mapping of any kind still works.
    with mon.measure_execution_time("checkout", tags={"shop": "eu"}):
        pass
    assert mon.collector.snapshot().operations["checkout"][0].count == 1


# -- one block, several threads or tasks -------------------------------------------


def assert_within(durations: list[float], spans: list[tuple[float, float]]) -> None:
    """Assert each duration lies in its span: (time inside, time around the block).

    A block's recorded time cannot be shorter than what was measured inside
    it nor longer than what was measured around it, however slow the
    machine; a start taken from another task or thread falls outside. Both
    lists are paired in order of size.
    """
    assert len(durations) == len(spans)
    for duration_s, (inside_s, around_s) in zip(
        sorted(durations), sorted(spans), strict=True
    ):
        assert inside_s <= duration_s <= around_s


def test_one_timer_shared_by_two_tasks_keeps_their_starts_apart(
    mon: PerformanceMonitor,
) -> None:
    """Overlapping tasks sharing one timer are measured as ~0.1 s and ~0.5 s."""
    timer = mon.measure_execution_time("shared")
    spans: list[tuple[float, float]] = []

    async def short() -> None:
        around = time.perf_counter()
        async with timer:
            inside = time.perf_counter()
            await asyncio.sleep(0.1)
            inside = time.perf_counter() - inside
        spans.append((inside, time.perf_counter() - around))

    async def long() -> None:
        await asyncio.sleep(0.05)
        around = time.perf_counter()
        async with timer:
            inside = time.perf_counter()
            await asyncio.sleep(0.5)
            inside = time.perf_counter() - inside
        spans.append((inside, time.perf_counter() - around))

    async def both() -> None:
        await asyncio.gather(short(), long())

    asyncio.run(both())

    events = mon.collector.snapshot().recent_events
    durations = sorted(e.duration_s for e in events if isinstance(e, OperationEvent))
    assert len(durations) == 2
    assert durations[0] >= 0.1 and durations[1] >= 0.5
    # Judged by the tasks' own clocks, not by fixed upper limits a loaded
    # machine can miss.
    assert_within(durations, spans)


def test_the_task_that_entered_a_shared_timer_first_can_leave_it_last(
    mon: PerformanceMonitor,
) -> None:
    """Tasks entering one timer at 0 and 0.05 s and leaving at 0.4 and 0.15 s.

    The first block is kept under its thread alone (no other block was
    open), the second under its task; each task still gets its own start:
    about 0.4 s and 0.1 s.
    """
    timer = mon.measure_execution_time("shared-first-last")
    spans: list[tuple[float, float]] = []

    async def first() -> None:
        around = time.perf_counter()
        async with timer:
            inside = time.perf_counter()
            await asyncio.sleep(0.4)
            inside = time.perf_counter() - inside
        spans.append((inside, time.perf_counter() - around))

    async def second() -> None:
        await asyncio.sleep(0.05)
        around = time.perf_counter()
        async with timer:
            inside = time.perf_counter()
            await asyncio.sleep(0.1)
            inside = time.perf_counter() - inside
        spans.append((inside, time.perf_counter() - around))

    async def both() -> None:
        await asyncio.gather(first(), second())

    asyncio.run(both())

    events = mon.collector.snapshot().recent_events
    durations = sorted(e.duration_s for e in events if isinstance(e, OperationEvent))
    assert len(durations) == 2
    assert durations[0] >= 0.1 and durations[1] >= 0.4
    assert_within(durations, spans)
    assert timer._starts == {}


def test_a_task_does_not_take_a_start_made_outside_its_event_loop(
    mon: PerformanceMonitor,
) -> None:
    """A timer entered twice around ``asyncio.run`` keeps both starts for itself.

    Inside the loop a task enters and leaves the same timer for ~0.05 s; the
    two outer blocks, kept as a stack under the thread, end after it.
    """
    timer = mon.measure_execution_time("around-the-loop")

    async def inner() -> None:
        async with timer:
            await asyncio.sleep(0.05)

    with timer:
        with timer:
            asyncio.run(inner())
            time.sleep(0.05)
        time.sleep(0.05)

    events = mon.collector.snapshot().recent_events
    task_block, middle, outer = (e.duration_s for e in events)
    assert 0.05 <= task_block < middle < outer
    assert middle >= 0.1 and outer >= 0.15
    assert timer._starts == {}


def test_a_block_moved_between_tasks_takes_no_start_made_outside_the_loop(
    mon: PerformanceMonitor,
) -> None:
    """A timer entered twice around ``asyncio.run`` keeps its own two starts.

    Inside the loop an async generator enters the same timer in one task and
    leaves it in another (each step its own task, as ``asyncio.wait_for``
    does): its start is under neither that task nor the thread alone, so it
    is not recorded, and the stack of the two outer blocks is not touched.
    """
    timer = mon.measure_execution_time("moved-between-tasks")

    async def steps() -> AsyncIterator[int]:
        async with timer:
            yield 1
            await asyncio.sleep(0.01)

    async def step_by_step() -> None:
        numbers = steps()
        assert await asyncio.create_task(anext(numbers)) == 1
        with pytest.raises(StopAsyncIteration):
            await asyncio.create_task(anext(numbers))

    with timer:
        with timer:
            asyncio.run(step_by_step())
            time.sleep(0.05)
        time.sleep(0.05)

    events = mon.collector.snapshot().recent_events
    inner, outer = (e.duration_s for e in events if isinstance(e, OperationEvent))
    assert 0.06 <= inner < outer
    assert outer >= inner + 0.05


def test_block_resumed_in_another_thread_is_ended_there(
    mon: PerformanceMonitor,
) -> None:
    """A timed generator started in a pool thread and finished here raises nothing."""

    def gen() -> Iterator[int]:
        with mon.measure_execution_time("moved"):
            yield 1
            time.sleep(0.05)
            yield 2

    numbers = gen()
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(next, numbers).result() == 1
    assert list(numbers) == [2]

    summary, _ = mon.collector.snapshot().operations["moved"]
    assert summary.count == 1 and 0.05 <= summary.max < 0.5
    # The pool thread was given back its busy count: a block now is its own.
    with mon.track_memory_usage("alone") as probe:
        pass
    assert probe.record is not None and probe.record.process_wide is False


def test_one_timer_entered_again_in_its_thread_ends_innermost_first(
    mon: PerformanceMonitor,
) -> None:
    """Three nested entries of one timer give 0.03, 0.02 and 0.01 s and no leftover.

    Each level sleeps 10 ms of its own, so the outermost block lasts at
    least 30 ms, the middle one 20 ms and the innermost 10 ms.
    """
    timer = mon.measure_execution_time("again")
    with timer:
        time.sleep(0.01)
        with timer:
            time.sleep(0.01)
            with timer:
                time.sleep(0.01)

    events = mon.collector.snapshot().recent_events
    inner, middle, outer = (e.duration_s for e in events)
    assert 0.01 <= inner < middle < outer
    assert middle >= 0.02 and outer >= 0.03
    assert timer._starts == {}


def test_one_timer_shared_by_two_threads_is_left_in_any_order(
    mon: PerformanceMonitor,
) -> None:
    """A block left while another thread's is open is ~0.05 s; the other ~0.2 s."""
    timer = mon.measure_execution_time("two-threads")
    entered, left = threading.Event(), threading.Event()
    spans: dict[str, tuple[float, float]] = {}

    def timed_block(wait: Callable[[], object]) -> None:
        around = time.perf_counter()
        with timer:
            inside = time.perf_counter()
            wait()
            inside = time.perf_counter() - inside
        spans[threading.current_thread().name] = (inside, time.perf_counter() - around)

    def other() -> None:
        timed_block(lambda: (entered.set(), left.wait(5), time.sleep(0.15)))

    thread = threading.Thread(target=other, name="other-thread")
    thread.start()
    assert entered.wait(5)
    timed_block(lambda: time.sleep(0.05))
    left.set()
    thread.join(5)

    events = [
        e
        for e in mon.collector.snapshot().recent_events
        if isinstance(e, OperationEvent)
    ]
    by_thread = {e.thread_name: e.duration_s for e in events}
    assert by_thread[threading.current_thread().name] >= 0.05
    assert by_thread["other-thread"] >= 0.2
    # Each block's own clocks bound it, where fixed upper limits would not
    # hold on a loaded machine.
    for name, duration_s in by_thread.items():
        inside_s, around_s = spans[name]
        assert inside_s <= duration_s <= around_s, name
    assert timer._starts == {}


def test_timers_without_tags_share_no_changeable_dict(
    mon: PerformanceMonitor,
) -> None:
    """An untagged timer's tags are empty and read-only; its events get a dict."""
    first = mon.measure_execution_time("plain")
    second = mon.measure_execution_time("plain")
    assert first.tags == {} and second.tags == {}
    with pytest.raises(TypeError):
        first.tags["shop"] = "eu"  # type: ignore[index]
    with first:
        pass
    (event,) = mon.collector.snapshot().recent_events
    assert isinstance(event, OperationEvent) and event.tags == {}
    event.tags["mine"] = "ok"
    assert second.tags == {}


def test_exit_without_a_start_records_nothing(
    mon: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving a block that was never entered is logged at DEBUG, not raised."""
    timer = mon.measure_execution_time("never-entered")

    with caplog.at_level(logging.DEBUG, logger="perfprobe.timing"):
        timer.__exit__(None, None, None)

    assert mon.collector.snapshot().operations == {}
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert "no start" in record.getMessage()


# -- decorated kinds of callables ------------------------------------------------------


def test_decorated_generator_is_timed_over_its_iteration(
    mon: PerformanceMonitor,
) -> None:
    """A generator that sleeps 0.1 s while iterated is measured as ~0.1 s."""

    @mon.measure_execution_time("produce")
    def produce() -> Iterator[int]:
        time.sleep(0.1)
        yield 1
        yield 2

    numbers = produce()
    assert mon.collector.snapshot().operations == {}
    assert list(numbers) == [1, 2]
    summary, errors = mon.collector.snapshot().operations["produce"]
    assert summary.count == 1 and 0.1 <= summary.max < 0.5
    assert errors == {}


def test_decorated_generator_keeps_send_close_and_its_exception(
    mon: PerformanceMonitor,
) -> None:
    """send() reaches the generator, close() is no error, a raise is recorded."""

    @mon.measure_execution_time("echo")
    def echo() -> Generator[str, str, None]:
        received = yield "ready"
        if received == "boom":
            raise CustomError(received)
        yield f"got {received}"

    stopped_early = echo()
    assert next(stopped_early) == "ready"
    assert stopped_early.send("x") == "got x"
    stopped_early.close()
    failing = echo()
    next(failing)
    with pytest.raises(CustomError, match="boom"):
        failing.send("boom")

    summary, errors = mon.collector.snapshot().operations["echo"]
    assert summary.count == 2
    assert errors == {"tests.perfprobe.test_timing.CustomError": 1}


def test_async_generator_function_is_rejected(mon: PerformanceMonitor) -> None:
    """Decorating an async generator function raises TypeError naming the fix."""

    async def rows() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"async generator.*async with"):
        mon.measure_execution_time("rows")(rows)


def test_a_decorator_above_a_descriptor_is_refused_at_once(
    mon: PerformanceMonitor,
) -> None:
    """Above @property, @classmethod or @staticmethod: a TypeError naming the fix.

    It was taken: a property or classmethod then failed at each call with
    "object is not callable", recorded as the operation's error, and a
    staticmethod was bound to the instance, which it then received as an
    argument.
    """
    for kind in (property, classmethod, staticmethod):
        with pytest.raises(TypeError) as caught:

            class Shop:
                @mon.measure_execution_time("total")
                @kind
                def total(self) -> int:
                    return 3

        assert str(caught.value) == (
            "measure_execution_time('total') decorates a function or other "
            f"callable, not {kind.__name__}; put it below @{kind.__name__}, next "
            "to the def"
        )
    with pytest.raises(TypeError, match=r"other callable, not int$"):
        mon.measure_execution_time("five")(5)  # type: ignore[arg-type]

    class Fixed:
        @staticmethod
        @mon.measure_execution_time("double")
        def double(value: int) -> int:
            return value * 2

    assert Fixed().double(4) == 8
    summary, errors = mon.collector.snapshot().operations["double"]
    assert summary.count == 1 and errors == {}


class SleepyCallable:
    """An object whose ``__call__`` is a coroutine function sleeping 0.1 s."""

    async def __call__(self) -> None:
        await asyncio.sleep(0.1)


def _returns_awaitable() -> Awaitable[None]:
    return asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "make",
    [
        SleepyCallable,
        lambda: markcoroutinefunction(_returns_awaitable),
        lambda: sync_to_async(lambda: time.sleep(0.1)),
    ],
    ids=["async-callable-object", "markcoroutinefunction", "sync_to_async"],
)
def test_async_callables_are_timed_over_their_await(
    mon: PerformanceMonitor, make: Callable[[], Callable[[], Awaitable[None]]]
) -> None:
    """Async callables that are not ``async def`` functions are measured ~0.1 s."""
    timed = mon.measure_execution_time("awaited")(make())

    async def call() -> None:
        await timed()

    asyncio.run(call())
    summary, _ = mon.collector.snapshot().operations["awaited"]
    assert summary.count == 1 and 0.1 <= summary.max < 0.5


def test_an_exception_with_a_strange_module_still_passes_through(
    mon: PerformanceMonitor,
) -> None:
    """An exception class whose __module__ is not a plain string is still named."""

    class Hostile(str):
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no comparisons")

        __hash__ = str.__hash__

    class Odd(Exception):
        pass

    Odd.__module__ = Hostile("odd.module")
    raised = Odd("boom")
    with pytest.raises(Odd) as info:
        with mon.measure_execution_time("odd"):
            raise raised
    assert info.value is raised
    _, errors = mon.collector.snapshot().operations["odd"]
    assert sum(errors.values()) == 1


# -- MEASURE_TIMING ------------------------------------------------------------------


def test_timing_off_runs_blocks_and_records_nothing(mon: PerformanceMonitor) -> None:
    """With MEASURE_TIMING off a block, a decorated call and a generator still run."""
    ran: list[str] = []

    @mon.measure_execution_time("call")
    def call() -> int:
        ran.append("call")
        return 7

    @mon.measure_execution_time("gen")
    def gen() -> Iterator[int]:
        ran.append("gen")
        yield from (1, 2)

    with override_settings(PERFPROBE={"MEASURE_TIMING": False}):
        with mon.measure_execution_time("block"):
            ran.append("block")
        assert call() == 7
        assert list(gen()) == [1, 2]

    assert ran == ["block", "call", "gen"]
    assert mon.collector.snapshot().recent_events == []
    assert mon.collector.snapshot().operations == {}


def test_timing_off_lets_user_exceptions_through_unchanged(
    mon: PerformanceMonitor,
) -> None:
    """The very exception object of the user's code propagates, timing or not."""
    error = KeyError("missing")

    @mon.measure_execution_time("fails")
    async def fails() -> None:
        raise error

    with override_settings(PERFPROBE={"MEASURE_TIMING": False}):
        with pytest.raises(KeyError) as raised, mon.measure_execution_time("b"):
            raise error
        assert raised.value is error
        with pytest.raises(KeyError) as raised_async:
            asyncio.run(fails())
        assert raised_async.value is error
    assert mon.collector.snapshot().recent_events == []


def test_timing_switched_back_on_records_again(mon: PerformanceMonitor) -> None:
    """Read live: one block off, one block on, one operation recorded."""
    with override_settings(PERFPROBE={"MEASURE_TIMING": False}):
        with mon.measure_execution_time("step"):
            pass
    with mon.measure_execution_time("step"):
        pass
    (event,) = mon.collector.snapshot().recent_events
    assert isinstance(event, OperationEvent) and event.name == "step"


def _cancel_after(seconds: float, coro: Awaitable[None]) -> None:
    """Run ``coro`` as a task and cancel it ``seconds`` after it started."""

    async def main() -> None:
        task = asyncio.ensure_future(coro)
        # One turn of the loop: the task's first step (its timer's start)
        # runs before the wait begins, or a slow turn on a loaded machine
        # is counted in the wait but not in the task's time.
        await asyncio.sleep(0)
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_cancelled_block_keeps_its_time_and_is_no_error(
    mon: PerformanceMonitor,
) -> None:
    """An ``async with`` block cancelled after 50 ms: timed, not an error anywhere."""
    summaries = []

    async def waiting() -> None:
        with mon.scope("job") as scope:
            summaries.append(scope)
            async with mon.measure_execution_time("waiting"):
                await asyncio.sleep(10)

    _cancel_after(0.05, waiting())

    snapshot = mon.collector.snapshot()
    (event,) = [e for e in snapshot.recent_events if isinstance(e, OperationEvent)]
    assert 0.05 <= event.duration_s < 5
    assert event.error_type is None and event.raised_at is None
    assert snapshot.operations["waiting"][1] == {}
    assert snapshot.error_counts == {}
    (scope,) = summaries
    assert scope.summary is not None and scope.summary.errors == {}


def test_a_cancelled_decorated_coroutine_keeps_its_time_and_is_no_error(
    mon: PerformanceMonitor,
) -> None:
    """A decorated coroutine cancelled after 50 ms is timed without an error type."""

    @mon.measure_execution_time("waiting")
    async def waiting() -> None:
        await asyncio.sleep(10)

    _cancel_after(0.05, waiting())

    snapshot = mon.collector.snapshot()
    (event,) = snapshot.recent_events
    assert isinstance(event, OperationEvent) and 0.05 <= event.duration_s < 5
    assert event.error_type is None
    assert snapshot.operations["waiting"][1] == {}
    assert snapshot.error_counts == {}


def test_a_block_in_a_generator_closed_early_is_no_error(
    mon: PerformanceMonitor,
) -> None:
    """A ``with`` block left by GeneratorExit (``close()``) is timed, not failed."""

    def rows() -> Iterator[int]:
        with mon.measure_execution_time("rows"):
            yield 1
            yield 2

    gen = rows()
    next(gen)
    gen.close()

    snapshot = mon.collector.snapshot()
    (event,) = snapshot.recent_events
    assert isinstance(event, OperationEvent) and event.error_type is None
    assert snapshot.operations["rows"][1] == {}
    assert snapshot.error_counts == {}


def test_no_tracing_call_while_no_tracer_can_be_set(
    mon: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before no_tracer_until_ns a block asks tracing nothing; after it, it asks."""
    from perfprobe import tracing

    asked: list[str] = []

    def start_block(name: str, tags: dict[str, str]) -> None:
        asked.append(name)

    monkeypatch.setattr(tracing, "start_block", start_block)
    monkeypatch.setattr(tracing, "active", True)
    monkeypatch.setattr(tracing, "no_tracer_until_ns", time.perf_counter_ns() + 10**12)
    with mon.measure_execution_time("quiet"):
        pass
    monkeypatch.setattr(tracing, "no_tracer_until_ns", time.perf_counter_ns() - 1)
    with mon.measure_execution_time("asked"):
        pass

    assert asked == ["asked"]
    operations = mon.collector.snapshot().operations
    assert operations["quiet"][0].count == 1
    assert operations["asked"][0].count == 1


def test_slow_warning_under_a_millisecond_threshold_reads_in_ms(
    mon: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0.5 ms threshold and a 3 ms block are not both printed as 0.00x s."""
    with (
        override_settings(PERFPROBE={"SLOW_OPERATION_SECONDS": 0.0005}),
        caplog.at_level(logging.WARNING, logger="perfprobe"),
    ):
        with mon.measure_execution_time("tiny_limit"):
            time.sleep(0.003)
    (record,) = [r for r in caplog.records if "Slow operation" in r.getMessage()]
    message = record.getMessage()
    assert "(threshold 0.500 ms)" in message, message
    took_ms = float(message.split(" took ")[1].split(" ms")[0])
    assert 3.0 <= took_ms < 1000, message
    assert record.threshold_s == 0.0005  # type: ignore[attr-defined]
