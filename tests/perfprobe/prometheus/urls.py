"""Serve views with known query patterns, and ``/metrics``, for the exporter tests.

Used through ``override_settings(ROOT_URLCONF=...)``: each view runs exactly
the queries its docstring names, so a test knows every count in advance.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from perfprobe.prometheus import metrics_view

#: Queries of one shape from one line with distinct parameters in n_plus_one.
N_PLUS_ONE_QUERIES = 6
#: Runs of one identical statement in duplicates.
DUPLICATE_RUNS = 3


def select_each(values: list[int]) -> None:
    """Run ``SELECT %s`` once per value, all from this one line."""
    with connection.cursor() as cursor:
        for value in values:
            cursor.execute("SELECT %s", [value])


def three(request: HttpRequest) -> HttpResponse:
    """Run three queries with distinct parameters: too few for an N+1."""
    select_each([1, 2, 3])
    return HttpResponse("three")


def item(request: HttpRequest, pk: int) -> HttpResponse:
    """Run one query and echo the primary key from the URL."""
    select_each([pk])
    return HttpResponse(str(pk))


def n_plus_one(request: HttpRequest) -> HttpResponse:
    """Run N_PLUS_ONE_QUERIES queries of one shape: one N+1 finding."""
    select_each(list(range(N_PLUS_ONE_QUERIES)))
    return HttpResponse("n+1")


def two_n_plus_ones(request: HttpRequest) -> HttpResponse:
    """Run two N+1 loops from two lines: two findings in one request."""
    select_each(list(range(N_PLUS_ONE_QUERIES)))
    with connection.cursor() as cursor:
        for value in range(N_PLUS_ONE_QUERIES):
            cursor.execute("SELECT %s + 1", [value])
    return HttpResponse("2 x n+1")


def duplicates(request: HttpRequest) -> HttpResponse:
    """Run one identical statement DUPLICATE_RUNS times: one duplicate finding."""
    select_each([7] * DUPLICATE_RUNS)
    return HttpResponse("duplicates")


def quiet(request: HttpRequest) -> HttpResponse:
    """Answer 200 without a query."""
    return HttpResponse("quiet")


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer 503 without a query."""
    return HttpResponse("busy", status=503)


urlpatterns = [
    path("three/", three),
    path("items/<int:pk>/", item),
    path("n-plus-one/", n_plus_one),
    path("two-n-plus-ones/", two_n_plus_ones),
    path("duplicates/", duplicates),
    path("quiet/", quiet),
    path("busy/", server_error),
    path("metrics", metrics_view),
]
