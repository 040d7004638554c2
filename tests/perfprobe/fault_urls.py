"""Serve views whose answers are known, for the fault-injection tests.

Each view does real monitored work (queries, timed blocks, memory probes,
a scope) and answers with what that work computed, so a test can compare
the answers with and without a fault inside perfprobe. The views that fail
keep the exception they raise in ``raised``, so a test can check that the
very same object reaches the caller.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from apps.shop.timeouts import run_runaway_query
from perfprobe import monitor

#: The exceptions the failing views raised, most recent last.
raised: list[BaseException] = []


@monitor.measure_execution_time("fault.decorated")
def double(value: int) -> int:
    """Return twice ``value``, through a decorated (timed) function."""
    return 2 * value


def select_values(values: list[int]) -> list[int]:
    """Return each value read back from the database, one query each."""
    read = []
    with connection.cursor() as cursor:
        for value in values:
            cursor.execute("SELECT %s", [value])
            read.append(cursor.fetchone()[0])
    return read


def work(request: HttpRequest) -> JsonResponse:
    """Run three queries in a scope, a timed block and a memory block."""
    with (
        monitor.scope("fault.inner"),
        monitor.measure_execution_time("fault.block", tags={"step": "read"}),
        monitor.track_memory_usage("fault.memory"),
    ):
        values = select_values([3, 5, 7])
        squares = [n * n for n in range(1000)]
    monitor.track_memory_usage("fault.checkpoint")
    return JsonResponse(
        {"values": values, "doubled": double(21), "sum": sum(squares)},
        headers={"X-Work": "done"},
    )


async def async_work(request: HttpRequest) -> JsonResponse:
    """Do what ``work`` does from an async view."""
    with monitor.scope("fault.inner"), monitor.track_memory_usage("fault.memory"):
        async with monitor.measure_execution_time("fault.async-block"):
            values = await sync_to_async(select_values)([3, 5, 7])
    monitor.track_memory_usage("fault.checkpoint")
    return JsonResponse({"values": values, "doubled": double(21)})


def fails(request: HttpRequest) -> HttpResponse:
    """Run one query in timed and tracked blocks, then raise a ``LookupError``."""
    monitor.track_memory_usage("fault.checkpoint")
    with (
        monitor.measure_execution_time("fault.failing"),
        monitor.track_memory_usage("fault.failing"),
    ):
        select_values([1])
        error = LookupError("no such basket")
        raised.append(error)
        raise error


def _keep_and_raise(error: BaseException) -> Any:
    raised.append(error)
    raise error


def db_error(request: HttpRequest) -> HttpResponse:
    """Run SQL the database refuses; the database's error leaves the view."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM no_such_table")
    except Exception as exc:
        _keep_and_raise(exc)
    return HttpResponse("unreachable")


def lost_connection(request: HttpRequest) -> HttpResponse:
    """Lose the database connection between two queries on one cursor.

    The driver's connection object is closed under Django, as when the
    server goes away mid-request: the second query fails in the driver.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s", [1])
            connection.connection.close()
            cursor.execute("SELECT %s", [2])
    except Exception as exc:
        _keep_and_raise(exc)
    return HttpResponse("unreachable")


def statement_timeout(request: HttpRequest) -> HttpResponse:
    """Run a query that never ends until the database stops it after 50 ms."""
    try:
        run_runaway_query(0.05)
    except Exception as exc:
        _keep_and_raise(exc)
    return HttpResponse("unreachable")


urlpatterns = [
    path("work/", work),
    path("async-work/", async_work),
    path("fails/", fails),
    path("db-error/", db_error),
    path("lost-connection/", lost_connection),
    path("statement-timeout/", statement_timeout),
    path("perfprobe/", include("perfprobe.urls")),
]
