"""Serve small views with known timings and query counts for the middleware tests.

Used through ``override_settings(ROOT_URLCONF=...)``; each view does exactly
what its name says, so a test can compare the recorded figures with known
numbers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path

from perfprobe import monitor
from perfprobe.access import unmonitored
from perfprobe.scope import current_scope

SLEEP_S = 0.05

# Set by a test that needs two requests in flight at once: each view that
# uses one waits here between its first and second half of queries.
barrier: threading.Barrier | None = None
async_barrier: asyncio.Barrier | None = None


def run_queries(count: int, offset: int = 0) -> None:
    """Run ``count`` one-row queries of one shape with different parameters."""
    with connection.cursor() as cursor:
        for value in range(offset, offset + count):
            cursor.execute("SELECT %s", [value])


def sleepy(request: HttpRequest) -> HttpResponse:
    """Sleep for ``SLEEP_S`` seconds and answer 200."""
    time.sleep(SLEEP_S)
    return HttpResponse("slept")


def sleepy_block(request: HttpRequest) -> HttpResponse:
    """Sleep ``SLEEP_S`` seconds inside the timed block "build_pdf"; answer 200."""
    with monitor.measure_execution_time("build_pdf"):
        time.sleep(SLEEP_S)
    return HttpResponse("built")


#: ``(seconds in the block, seconds in the view)`` of each ``/part-block/``,
#: timed by the view itself: a loaded machine's sleeps overshoot.
part_block_times: list[tuple[float, float]] = []


def part_block(request: HttpRequest) -> HttpResponse:
    """Sleep ``SLEEP_S / 2`` in the block "render_part", then ``SLEEP_S`` after it."""
    started = time.perf_counter()
    with monitor.measure_execution_time("render_part"):
        time.sleep(SLEEP_S / 2)
    in_block = time.perf_counter() - started
    time.sleep(SLEEP_S)
    part_block_times.append((in_block, time.perf_counter() - started))
    return HttpResponse("rendered")


#: ``(id, started_at)`` of each request scope ``/quiet/`` ran in.
quiet_scopes: list[tuple[int, float]] = []


def quiet(request: HttpRequest) -> HttpResponse:
    """Note the request scope's id and start, unnamed; record nothing."""
    scope = current_scope.get()
    assert scope is not None
    quiet_scopes.append((scope.id, scope.started_at))
    return HttpResponse("quiet")


def three_queries(request: HttpRequest) -> HttpResponse:
    """Run exactly three queries."""
    run_queries(3)
    return HttpResponse("three")


def item(request: HttpRequest, pk: int) -> JsonResponse:
    """Echo the primary key from the URL, with one query."""
    run_queries(1, offset=pk)
    return JsonResponse({"pk": pk})


def count_in_halves(request: HttpRequest, count: int) -> HttpResponse:
    """Run ``count`` queries, waiting at ``barrier`` halfway when one is set."""
    half = count // 2
    run_queries(half)
    if barrier is not None:
        barrier.wait(timeout=10)
    run_queries(count - half, offset=half)
    return HttpResponse(str(count))


def boom(request: HttpRequest) -> HttpResponse:
    """Raise ``KeyError`` after one query, as a buggy view would."""
    run_queries(1)
    raise KeyError("missing")


async def async_count(request: HttpRequest, count: int) -> HttpResponse:
    """Run ``count`` queries from an async view, meeting ``async_barrier`` halfway."""
    half = count // 2
    await sync_to_async(run_queries)(half)
    if async_barrier is not None:
        await asyncio.wait_for(async_barrier.wait(), timeout=10)
    await sync_to_async(run_queries)(count - half, offset=half)
    return HttpResponse(str(count))


async def async_timed(request: HttpRequest, count: int) -> HttpResponse:
    """Record ``count`` timed operations from an async view, meeting halfway."""
    half = count // 2
    for _ in range(half):
        async with monitor.measure_execution_time("async-step"):
            await asyncio.sleep(0)
    if async_barrier is not None:
        await asyncio.wait_for(async_barrier.wait(), timeout=10)
    for _ in range(count - half):
        async with monitor.measure_execution_time("async-step"):
            await asyncio.sleep(0)
    return HttpResponse(str(count))


@unmonitored
def hidden(request: HttpRequest) -> HttpResponse:
    """Run two queries, a timed block and a memory block, marked unmonitored."""
    with (
        monitor.measure_execution_time("hidden-step"),
        monitor.track_memory_usage("hidden-block"),
    ):
        run_queries(2)
    return HttpResponse("hidden")


@unmonitored
async def async_hidden(request: HttpRequest) -> HttpResponse:
    """Run two queries and a timed block from an async view marked unmonitored."""
    async with monitor.measure_execution_time("hidden-step"):
        await sync_to_async(run_queries)(2)
    return HttpResponse("hidden")


def timed(request: HttpRequest) -> HttpResponse:
    """Run one query inside a timed block and a memory block, then answer 200."""
    with (
        monitor.measure_execution_time("timed-step"),
        monitor.track_memory_usage("timed-block"),
    ):
        run_queries(1)
    return HttpResponse("timed")


def streamed_body() -> Iterator[bytes]:
    """Yield two chunks, running three queries and a timed block for them."""
    run_queries(2)
    yield b"one,"
    with monitor.measure_execution_time("stream-step"):
        run_queries(1)
    yield b"two"


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """Answer with ``streamed_body``, whose work runs while it is sent."""
    return StreamingHttpResponse(streamed_body())


async def astreamed_body() -> AsyncIterator[bytes]:
    """Yield two chunks, running three queries and a timed block for them."""
    await sync_to_async(run_queries)(2)
    yield b"one,"
    async with monitor.measure_execution_time("stream-step"):
        await sync_to_async(run_queries)(1)
    yield b"two"


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    """Answer with ``astreamed_body`` from an async view."""
    return StreamingHttpResponse(astreamed_body())


@unmonitored
def hidden_stream(request: HttpRequest) -> StreamingHttpResponse:
    """Answer with ``streamed_body`` from a view marked unmonitored."""
    return StreamingHttpResponse(streamed_body())


@unmonitored
async def ahidden_stream(request: HttpRequest) -> StreamingHttpResponse:
    """Answer with ``astreamed_body`` from an async view marked unmonitored."""
    return StreamingHttpResponse(astreamed_body())


def cleanup_body() -> Iterator[bytes]:
    """Yield forever; closing it runs one query in its ``finally`` block."""
    try:
        while True:
            yield b"x"
    finally:
        run_queries(1)


def endless(request: HttpRequest) -> StreamingHttpResponse:
    """Answer with ``cleanup_body``, for a client that stops reading early."""
    return StreamingHttpResponse(cleanup_body())


class QueryingFile:
    """A file-like object that runs one query per ``read()`` that returns data."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks

    def read(self, size: int = -1) -> bytes:
        """Return one byte per call, running one query, until exhausted."""
        if self.chunks == 0:
            return b""
        self.chunks -= 1
        run_queries(1)
        return b"f"


def file(request: HttpRequest) -> FileResponse:
    """Answer with a ``FileResponse`` whose reads run two queries."""
    return FileResponse(QueryingFile(2))


class ScopedMiddleware:
    """Run the rest of the stack inside ``monitor.scope("wrapped")``.

    Below perfprobe's middleware, the scope is opened before the URL is
    resolved, so before anyone knows whether the view is unmonitored.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        with monitor.scope("wrapped"):
            return self.get_response(request)


urlpatterns = [
    path("stream/", stream),
    path("async/stream/", astream),
    path("hidden-stream/", hidden_stream),
    path("async/hidden-stream/", ahidden_stream),
    path("endless/", endless),
    path("file/", file),
    path("hidden/", hidden),
    path("async/hidden/", async_hidden),
    path("timed/", timed),
    path("health/", three_queries),
    path("sleepy/", sleepy),
    path("sleepy-block/", sleepy_block),
    path("part-block/", part_block),
    path("three/", three_queries),
    path("quiet/", quiet),
    path("items/<int:pk>/", item),
    path("count/<int:count>/", count_in_halves),
    path("boom/", boom),
    path("async/count/<int:count>/", async_count),
    path("async/timed/<int:count>/", async_timed),
]
