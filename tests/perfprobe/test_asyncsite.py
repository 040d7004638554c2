"""Tests for perfprobe.db.asyncsite: call sites of queries run by sync_to_async."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, connections
from django.test import AsyncClient

from apps.shop import async_views
from apps.shop.models import Order
from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.db import installer
from perfprobe.db.callsite import display_path
from perfprobe.events import QueryEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def close_worker_connections() -> Iterator[None]:
    """Close the connections opened by sync_to_async's worker threads.

    ``thread_sensitive=False`` runs the ORM in an executor thread of its own,
    whose connection Django never closes; on PostgreSQL it would keep a
    session on the test database until garbage collection warns about it.
    """
    yield
    mine = set(connections.all(initialized_only=True))
    for other in list(installer._instrumented):
        if other not in mine and other.connection is not None:
            # The owning thread is gone, so Django's own close() (which
            # checks the thread) cannot be used; the driver's can.
            other.connection.close()
            other.connection = None


THIS_FILE = display_path(os.path.abspath(__file__))


def run_query() -> None:
    """Run one query from user code, which the walk finds before the hop."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 11")


def orm_count(**options: bool) -> Awaitable[int]:
    """Return an awaitable count run by the ORM alone: no user frame in its thread."""
    return sync_to_async(Order.objects.all().count, **options)()


def here() -> str:
    """Return ``path:line`` of the line after the caller's."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return f"{THIS_FILE}:{frame.f_back.f_lineno + 1}"


def line_of(path: Path, text: str) -> str:
    """Return ``path:line`` of the one line of ``path`` that contains ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, start=1) if text in line]
    return f"{display_path(str(path.resolve()))}:{number}"


def test_a_query_awaited_through_sync_to_async_names_the_awaiting_line(
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """The call site is the await in the coroutine, not this test's sync line."""
    expected: list[str] = []

    async def view() -> None:
        with fresh_monitor.scope("request"):
            expected.append(here())
            await orm_count()
            expected.append(here())
            await orm_count(thread_sensitive=False)

    async_to_sync(view)()

    assert len(expected) == 2
    assert [q.call_site for q in recorded_queries()] == expected


def test_a_query_awaited_by_another_task_has_no_call_site(
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """A gather child's query is not put on the scope task's line: it is unknown."""

    async def view() -> None:
        with fresh_monitor.scope("request"):
            await asyncio.gather(orm_count())

    async_to_sync(view)()

    (event,) = recorded_queries()
    assert event.call_site is None


def test_a_query_outside_any_scope_is_not_put_on_the_sync_callers_line(
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """Without a scope's task the call site is unknown, never this test's line."""

    async def view() -> None:
        await orm_count()

    async_to_sync(view)()

    (event,) = recorded_queries()
    assert event.call_site is None


def test_sync_code_run_by_sync_to_async_keeps_its_own_line(
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """User code on the thread's side of the hop is found first, as before."""

    async def view() -> None:
        with fresh_monitor.scope("request"):
            await sync_to_async(run_query)()

    async_to_sync(view)()

    lines, start = inspect.getsourcelines(run_query)
    offset = next(n for n, line in enumerate(lines) if "cursor.execute" in line)
    (event,) = recorded_queries()
    assert event.call_site == f"{THIS_FILE}:{start + offset}"


def test_async_orm_queries_of_a_view_name_the_views_lines(
    fresh_monitor: PerformanceMonitor,
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """aget() and acount() in the shop's async view are filed at their own lines."""
    ensure_sample_data()
    order = Order.objects.order_by("pk").first()
    assert order is not None
    fresh_monitor.reset()
    source = Path(async_views.__file__)

    response = async_to_sync(AsyncClient().get)(f"/api/async/orders/{order.pk}/")

    assert response.status_code == 200
    assert [q.call_site for q in recorded_queries()] == [
        line_of(source, ".aget(pk=pk)"),
        # `async for` awaits an async generator, whose frame Python does not
        # expose from the awaiting side: unknown rather than guessed.
        None,
        line_of(source, ".acount()"),
    ]
