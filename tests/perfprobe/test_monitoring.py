"""Tests for perfprobe.monitoring: scopes in awkward orders, handed to threads."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from django.db import connection, connections

from perfprobe import PerformanceMonitor, get_current_scope
from perfprobe.collector import Collector
from perfprobe.scope import Scope, current_scope


@pytest.fixture
def mon() -> Iterator[PerformanceMonitor]:
    """Return a monitor with its own collector; no scope is current around it."""
    token = current_scope.set(None)
    yield PerformanceMonitor(Collector())
    current_scope.reset(token)


def closed_paths(mon: PerformanceMonitor) -> list[str]:
    """Return the paths of the scopes the monitor has closed, oldest first."""
    return [summary.path for summary in mon.collector.snapshot().scopes]


def test_scope_left_before_its_inner_scope_is_not_current_after(
    mon: PerformanceMonitor,
) -> None:
    """Entering A then B and leaving A first leaves no closed scope current."""
    outer, inner = mon.scope("A"), mon.scope("B")
    outer.__enter__()
    inner.__enter__()

    outer.__exit__(None, None, None)
    assert get_current_scope() is None
    inner.__exit__(None, None, None)

    assert get_current_scope() is None
    with mon.measure_execution_time("after"):
        pass
    (event,) = mon.collector.snapshot().recent_events
    assert getattr(event, "scope", "missing") is None
    assert closed_paths(mon) == ["A", "A/B"]


def test_generator_closed_in_another_context_leaves_its_scope(
    mon: PerformanceMonitor,
) -> None:
    """A scoped generator advanced in a copied context closes here without error."""

    def scoped() -> Iterator[int]:
        with mon.scope("gen-scope"):
            yield 1

    numbers = scoped()
    assert contextvars.copy_context().run(next, numbers) == 1

    numbers.close()

    assert get_current_scope() is None
    assert closed_paths(mon) == ["gen-scope"]


def test_async_generator_closed_by_another_task_leaves_its_scope(
    mon: PerformanceMonitor,
) -> None:
    """An async generator entered in one task and closed in another raises nothing."""

    async def rows() -> AsyncIterator[int]:
        with mon.scope("export"):
            yield 1
            yield 2

    async def main() -> None:
        source = rows()
        assert await asyncio.create_task(anext(source)) == 1
        await source.aclose()
        assert get_current_scope() is None

    asyncio.run(main())

    assert closed_paths(mon) == ["export"]


def test_scope_lets_the_users_exception_through_unchanged(
    mon: PerformanceMonitor,
) -> None:
    """The exception leaving a scope is the same object, and the scope closes."""
    raised = KeyError("missing")

    with pytest.raises(KeyError) as info:
        with mon.scope("failing"):
            raise raised

    assert info.value is raised
    assert get_current_scope() is None
    assert closed_paths(mon) == ["failing"]


def test_generator_exit_passes_through_a_scope(mon: PerformanceMonitor) -> None:
    """Closing a generator suspended in a scope ends it; GeneratorExit is kept."""
    seen: list[type[BaseException]] = []

    def scoped() -> Iterator[int]:
        try:
            with mon.scope("closing"):
                yield 1
        except BaseException as exc:
            seen.append(type(exc))
            raise

    numbers = scoped()
    next(numbers)
    numbers.close()

    assert seen == [GeneratorExit]
    assert closed_paths(mon) == ["closing"]


# -- propagate ------------------------------------------------------------------


def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` in a new thread and return its result or raise its error."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result(timeout=10)


def test_propagate_runs_the_callable_in_the_scope_current_when_called(
    mon: PerformanceMonitor,
) -> None:
    """A thread given a propagated callable sees the scope, args and result."""

    def where(prefix: str, *, suffix: str) -> str:
        scope = get_current_scope()
        return f"{prefix}{scope.path if scope else None}{suffix}"

    with mon.scope("job"), mon.scope("step"):
        handed = mon.propagate(where)
        plain = where
    assert run_in_thread(functools.partial(handed, "<", suffix=">")) == "<job/step>"
    assert run_in_thread(functools.partial(plain, "<", suffix=">")) == "<None>"
    assert handed.__name__ == "where"


def test_propagate_lets_the_callables_exception_through_unchanged(
    mon: PerformanceMonitor,
) -> None:
    """The exception raised by the worker reaches the caller as the same object."""
    error = LookupError("missing")

    def fail() -> None:
        raise error

    with mon.scope("job"):
        handed = mon.propagate(fail)

    with pytest.raises(LookupError) as caught:
        run_in_thread(handed)
    assert caught.value is error


def test_one_propagated_callable_runs_in_several_threads_at_once(
    mon: PerformanceMonitor,
) -> None:
    """Four workers inside the same propagated callable together all see the scope."""
    barrier = threading.Barrier(4)

    def meet(_: int) -> str | None:
        barrier.wait(timeout=10)
        scope = get_current_scope()
        return scope.path if scope else None

    with mon.scope("job"):
        handed = mon.propagate(meet)
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(handed, range(4), timeout=10))

    assert paths == ["job"] * 4


def test_propagate_carries_other_context_variables_but_not_back(
    mon: PerformanceMonitor,
) -> None:
    """A user ContextVar set before propagate is seen; the worker's changes stay."""
    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant")
    tenant.set("eu")

    def read_then_change() -> str:
        seen = tenant.get("unset")
        tenant.set("changed")
        return seen

    handed = mon.propagate(read_then_change)
    tenant.set("us")

    assert run_in_thread(handed) == "eu"
    assert run_in_thread(handed) == "eu"
    assert tenant.get() == "us"


def test_propagate_of_an_async_function_keeps_the_scope(
    mon: PerformanceMonitor,
) -> None:
    """A propagated coroutine function run on another thread's loop sees the scope."""
    seen: list[Scope | None] = []

    async def work(value: int) -> int:
        await asyncio.sleep(0)
        seen.append(get_current_scope())
        return value * 2

    with mon.scope("job") as scope:
        handed = mon.propagate(work)
    assert iscoroutinefunction(handed)
    assert run_in_thread(lambda: asyncio.run(handed(21))) == 42
    assert run_in_thread(lambda: asyncio.run(work(1))) == 2
    assert seen == [scope, None]


def test_propagate_of_an_async_function_lets_its_exception_through(
    mon: PerformanceMonitor,
) -> None:
    """The exception a propagated coroutine raises reaches the awaiter unchanged."""
    error = LookupError("missing")

    async def fail() -> None:
        raise error

    with mon.scope("job"):
        handed = mon.propagate(fail)

    with pytest.raises(LookupError) as caught:
        run_in_thread(lambda: asyncio.run(handed()))
    assert caught.value is error


def test_cancelling_the_awaiter_of_a_propagated_coroutine_cancels_it(
    mon: PerformanceMonitor,
) -> None:
    """Cancelling the caller cancels the task that runs the propagated coroutine."""
    cancelled = threading.Event()

    async def wait_forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def start_then_cancel() -> None:
        caller = asyncio.create_task(mon.propagate(wait_forever)())
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(start_then_cancel())
    assert cancelled.is_set()


def test_propagate_of_a_callable_returning_a_coroutine_keeps_the_scope(
    mon: PerformanceMonitor,
) -> None:
    """An object whose __call__ is async, propagated, sees the scope when awaited."""
    seen: list[str | None] = []

    class Job:
        async def __call__(self) -> None:
            scope = get_current_scope()
            seen.append(scope.path if scope else None)

    with mon.scope("job"):
        handed = mon.propagate(Job())
    run_in_thread(lambda: asyncio.run(handed()))

    assert seen == ["job"]


@pytest.mark.parametrize("not_callable", [42, None, "load"])
def test_propagate_rejects_a_non_callable_at_once(
    mon: PerformanceMonitor, not_callable: Any
) -> None:
    """Passing a non-callable fails where propagate is called, naming the type."""
    with pytest.raises(TypeError, match=type(not_callable).__name__):
        mon.propagate(not_callable)


def test_work_propagated_into_a_closed_scope_counts_in_open_ancestors(
    mon: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker run after its scope closed lands in the still open outer scope."""
    with mon.scope("job"):
        with mon.scope("request") as request:
            handed = mon.propagate(mon.measure_execution_time("late")(lambda: None))
        run_in_thread(handed)

    job, inner = mon.collector.snapshot().scopes[::-1]
    assert (inner.path, inner.operation_count) == ("job/request", 0)
    assert request.summary is inner
    assert (job.path, job.operation_count) == ("job", 1)
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


def run_queries(count: int) -> None:
    """Run ``count`` one-row queries on this thread's connection."""
    with connection.cursor() as cursor:
        for value in range(count):
            cursor.execute("SELECT %s", [value])


def run_queries_then_close(count: int) -> None:
    """Run ``count`` queries, then close the worker thread's connections."""
    try:
        run_queries(count)
    finally:
        connections.close_all()


@pytest.mark.django_db
def test_queries_of_a_worker_that_outlives_its_scope_stay_in_the_totals(
    fresh_monitor: PerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    """2 queries in the scope and 3 after it closed: 5 in all, 3 outside."""
    with fresh_monitor.scope("request") as scope:
        run_queries(2)
        handed = fresh_monitor.propagate(run_queries_then_close)
    run_in_thread(handed, 3)

    snapshot = fresh_monitor.collector.snapshot()
    assert scope.summary.query_count == 2
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 5
    assert snapshot.queries_outside_scopes == 3
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.django_db
def test_queries_of_a_thread_without_a_scope_are_in_the_totals(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A plain thread's queries, while a scope is open here, count only outside."""
    with fresh_monitor.scope("request") as scope:
        run_in_thread(run_queries_then_close, 4)

    snapshot = fresh_monitor.collector.snapshot()
    assert scope.summary.query_count == 0
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 4
    assert snapshot.queries_outside_scopes == 4


def test_a_scope_opened_in_a_task_refers_to_it_weakly(
    mon: PerformanceMonitor,
) -> None:
    """The scope names the task that opened it without keeping it; sync code, none."""

    async def open_scope() -> tuple[object, object]:
        with mon.scope("in-task") as scope:
            return scope, asyncio.current_task()

    scope, task = asyncio.run(open_scope())
    with mon.scope("sync") as sync_scope:
        pass

    assert isinstance(scope, Scope)
    assert scope.task is not None
    assert scope.task() is task
    del task
    gc.collect()
    assert scope.task() is None
    assert sync_scope.task is None
