"""URLs for test_requestscope: a nested include(), a regex, unmonitored views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from perfprobe.access import unmonitored


def view(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """Answer an empty page."""
    return HttpResponse()


@unmonitored
def hidden(request: HttpRequest) -> HttpResponse:
    """Answer an empty page, marked unmonitored."""
    return HttpResponse()


def later(request: HttpRequest) -> HttpResponse:
    """Answer an empty page; a test marks it unmonitored after a first request."""
    return HttpResponse()


orders = [path("<int:pk>/lines/", view)]

urlpatterns = [
    path("api/orders/", include(orders)),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", view),
    path("hidden/", hidden),
    path("later/", later),
]
