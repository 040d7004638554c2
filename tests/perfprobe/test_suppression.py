"""Tests for perfprobe.suppression: the per-request mark and its reset."""

from __future__ import annotations

import asyncio

import pytest

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.scope import Scope, current_scope, get_current_scope
from perfprobe.suppression import current_mark, is_suppressed, request_mark


def test_the_mark_is_reset_when_the_block_raises() -> None:
    """An exception inside the block leaves the previous (absent) mark in place."""
    with pytest.raises(RuntimeError), request_mark(suppressed=True):
        assert is_suppressed()
        raise RuntimeError("view bug")
    assert current_mark() is None
    assert not is_suppressed()


def test_a_mark_switched_on_inside_the_block_ends_with_it() -> None:
    """Switching the mark on later (as process_view does) lasts until the block ends."""
    with request_mark(suppressed=False) as mark:
        assert not is_suppressed()
        mark.suppressed = True
        assert is_suppressed()
    assert not is_suppressed()


def test_concurrent_tasks_keep_their_own_marks() -> None:
    """Two asyncio tasks, one suppressed and one not, each see only their own."""
    seen: dict[str, bool] = {}

    async def request(name: str, suppressed: bool, other: asyncio.Event) -> None:
        with request_mark(suppressed=suppressed):
            await asyncio.sleep(0)
            seen[name] = is_suppressed()
            other.set()

    async def both() -> None:
        first, second = asyncio.Event(), asyncio.Event()
        await asyncio.gather(
            request("hidden", True, first), request("shown", False, second)
        )

    asyncio.run(both())
    assert seen == {"hidden": True, "shown": False}


def test_a_scope_made_current_carries_its_own_suppression() -> None:
    """The current scope is the mark: a suppressed one set by hand suppresses."""
    token = current_scope.set(Scope("handed-over", suppressed=True))
    try:
        assert is_suppressed()
    finally:
        current_scope.reset(token)
    assert not is_suppressed()


def test_a_left_out_request_is_no_scope_of_its_own() -> None:
    """Inside a mark, the current scope is the one the mark was set in."""
    monitor = PerformanceMonitor(Collector())
    with monitor.scope("job") as job, request_mark(suppressed=True):
        assert get_current_scope() is job
        assert is_suppressed()
        with monitor.scope("inner") as inner:
            assert get_current_scope() is inner
            assert inner.parent is job
            assert inner.path == "job/inner"
            assert is_suppressed()
            with monitor.measure_execution_time("left-out"):
                pass
        assert get_current_scope() is job
    snapshot = monitor.collector.snapshot()
    assert snapshot.operations == {}
    assert [s.name for s in snapshot.scopes] == ["job"]


def test_a_scope_left_out_of_order_inside_a_left_out_request_keeps_it_out() -> None:
    """Enter A, enter B, exit A inside a mark: the mark, not A's parent, is back."""
    monitor = PerformanceMonitor(Collector())
    with request_mark(suppressed=True) as mark:
        outer = monitor.scope("a")
        outer.__enter__()
        inner = monitor.scope("b")
        inner.__enter__()
        outer.__exit__(None, None, None)
        assert current_mark() is mark
        assert is_suppressed()
        inner.__exit__(None, None, None)
        assert is_suppressed()
    assert not is_suppressed()
