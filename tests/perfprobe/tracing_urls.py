"""Serve views with known blocks, queries and secrets for the tracing tests.

Each view does exactly what its docstring says, so a test can compare the
spans with hand-counted queries and hand-written SQL.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path

from apps.shop.models import Customer
from perfprobe import monitor
from perfprobe.access import unmonitored
from perfprobe.prometheus import metrics_view

#: A value no span may carry with the default settings.
SECRET = "s3cret-7f2a"

NAP_S = 0.05

# Set by a test that needs two async requests in flight at once.
async_barrier: asyncio.Barrier | None = None


def run_queries(count: int) -> None:
    """Run ``count`` one-row ``SELECT %s`` queries with the parameters 0, 1, ..."""
    with connection.cursor() as cursor:
        for value in range(count):
            cursor.execute("SELECT %s", [value])


def customer(request: HttpRequest, pk: int) -> HttpResponse:
    """Look a customer up by a secret e-mail inside the block ``load-customer``.

    Three queries: the ORM lookup with the secret as a parameter, a raw
    ``SELECT %s`` with the secret as a parameter, and a raw SQL literal
    holding the secret; then one ``SELECT %s`` outside the block.
    """
    with monitor.measure_execution_time("load-customer", tags={"shop": "eu"}):
        Customer.objects.filter(email=SECRET).first()
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s", [SECRET])
            cursor.execute(f"SELECT '{SECRET}'")
    run_queries(1)
    return HttpResponse(str(pk))


def nap(request: HttpRequest) -> HttpResponse:
    """Run one query, then sleep for ``NAP_S`` seconds."""
    run_queries(1)
    time.sleep(NAP_S)
    return HttpResponse("rested")


def boom(request: HttpRequest) -> HttpResponse:
    """Run one query and raise ``ValueError``, as a buggy view would."""
    run_queries(1)
    raise ValueError(SECRET)


def missing(request: HttpRequest) -> HttpResponse:
    """Raise ``Http404``: a client error, not the server's."""
    raise Http404("no such thing")


def failing_block(request: HttpRequest) -> HttpResponse:
    """Raise ``KeyError`` inside the block ``fragile`` and answer 200 anyway."""
    try:
        with monitor.measure_execution_time("fragile"):
            raise KeyError(SECRET)
    except KeyError:
        pass
    return HttpResponse("recovered")


def bad_query(request: HttpRequest) -> HttpResponse:
    """Run a query on a table that does not exist, then answer 200."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])
    except Exception:
        pass
    return HttpResponse("survived")


async def async_halves(request: HttpRequest, count: int) -> HttpResponse:
    """Run ``count // 2`` queries, meet ``async_barrier``, then the rest in a block.

    The second half runs inside the async block ``second-half``.
    """
    half = count // 2
    await sync_to_async(run_queries)(half)
    if async_barrier is not None:
        await asyncio.wait_for(async_barrier.wait(), timeout=10)
    async with monitor.measure_execution_time("second-half"):
        await sync_to_async(run_queries)(count - half)
    return HttpResponse(str(count))


@unmonitored
def hidden(request: HttpRequest, n: int = 0) -> HttpResponse:
    """Run one query inside the block ``hidden-block``; an unmonitored view."""
    with monitor.measure_execution_time("hidden-block"):
        run_queries(1)
    return HttpResponse("hidden")


@unmonitored
async def async_hidden(request: HttpRequest, n: int = 0) -> HttpResponse:
    """Run one query inside the block ``hidden-block``; an unmonitored async view."""
    async with monitor.measure_execution_time("hidden-block"):
        await sync_to_async(run_queries)(1)
    return HttpResponse("hidden")


urlpatterns = [
    path("customers/<int:pk>/", customer),
    path("metrics", metrics_view),
    path("perfprobe/", include("perfprobe.urls")),
    path("hidden/", hidden),
    path("hidden/<int:n>/", hidden),
    path("async-hidden/", async_hidden),
    path("async-hidden/<int:n>/", async_hidden),
    path("nap/", nap),
    path("boom/", boom),
    path("missing/", missing),
    path("fragile/", failing_block),
    path("bad-query/", bad_query),
    path("async/left/", async_halves, {"count": 4}),
    path("async/right/", async_halves, {"count": 6}),
]
