"""Serve views that nest work in odd ways, for the middleware nesting tests.

Each view runs a known number of queries, so a test can compare the figures
with what really ran.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from perfprobe import monitor
from perfprobe.access import unmonitored
from tests.perfprobe.middleware_urls import run_queries
from tests.perfprobe.middleware_urls import urlpatterns as base_patterns


def out_of_order(request: HttpRequest) -> HttpResponse:
    """Enter scopes a then b, leave a first, then b: 2 queries between, 1 after."""
    outer = monitor.scope("a")
    outer.__enter__()
    inner = monitor.scope("b")
    inner.__enter__()
    outer.__exit__(None, None, None)
    run_queries(2)
    inner.__exit__(None, None, None)
    run_queries(1)
    return HttpResponse("out of order")


@unmonitored
def hidden_out_of_order(request: HttpRequest) -> HttpResponse:
    """``out_of_order``, from a view marked unmonitored."""
    return out_of_order(request)


def sub_request(request: HttpRequest) -> HttpResponse:
    """Serve /three/ (3 queries) through the test client, inside this request."""
    Client().get("/three/")
    return HttpResponse("sub")


hidden_sub_request = unmonitored(lambda request: sub_request(request))


urlpatterns = [
    *base_patterns,
    path("out-of-order/", out_of_order),
    path("hidden/out-of-order/", hidden_out_of_order),
    path("sub/", sub_request),
    path("hidden/sub/", hidden_sub_request),
]
