"""Tests for perfprobe.monitoring: scopes entered and left in awkward orders."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator

import pytest

from perfprobe import PerformanceMonitor, get_current_scope
from perfprobe.collector import Collector
from perfprobe.scope import current_scope


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
