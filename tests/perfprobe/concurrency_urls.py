"""Serve views with known sleeps and query counts, for requests that overlap.

Used through ``ROOT_URLCONF`` by the concurrency tests. Each route runs its
own number of queries, meets the other requests at ``barrier`` (so that all
are in flight at once) and then sleeps its own time. ``UserWrapperMiddleware``
is what a user's own middleware might do: wrap each request's queries in an
execute wrapper of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

#: Per route: (seconds it sleeps, queries it runs). Sleeps 0.3 s apart.
SPECS: dict[str, tuple[float, int]] = {
    "a": (0.05, 2),
    "b": (0.35, 5),
    "c": (0.65, 9),
}

#: Set by a test: every view waits here after its queries, before its sleep.
barrier: threading.Barrier | None = None

#: The SQL the user's wrapper saw, in any thread.
user_seen: list[str] = []


def run_queries(count: int) -> None:
    """Run ``count`` one-row queries of one shape with different parameters."""
    with connection.cursor() as cursor:
        for value in range(count):
            cursor.execute("SELECT %s", [value])


def make_view(sleep_s: float, queries: int) -> Callable[[HttpRequest], HttpResponse]:
    """Return a view that runs ``queries`` queries, meets the others, sleeps."""

    def view(request: HttpRequest) -> HttpResponse:
        run_queries(queries)
        if barrier is not None:
            barrier.wait(timeout=20)
        time.sleep(sleep_s)
        return JsonResponse({"queries": queries, "sleep_s": sleep_s})

    return view


def user_wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Count the query and run it, as a user's own execute wrapper would."""
    user_seen.append(sql)
    return execute(sql, params, many, context)


class UserWrapperMiddleware:
    """Wrap every request's queries in ``user_wrapper`` (Django's documented way)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with connection.execute_wrapper(user_wrapper):
            return self.get_response(request)


urlpatterns = [path(f"{name}/", make_view(*spec)) for name, spec in SPECS.items()]
