"""Serve the shop with a product list that fails a set number of times first."""

from __future__ import annotations

import threading

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from apps.shop import views


class InjectedFailure(Exception):
    """Raised by the product list while failures are left to inject."""


_lock = threading.Lock()
_failures_left = 0


def fail_next(count: int) -> None:
    """Make the next ``count`` product-list requests fail with an HTTP 500."""
    global _failures_left
    with _lock:
        _failures_left = count


def flaky_product_list(request: HttpRequest) -> HttpResponse:
    """Raise while failures are left (a real 500), else list the products."""
    global _failures_left
    with _lock:
        fail = _failures_left > 0
        if fail:
            _failures_left -= 1
    if fail:
        raise InjectedFailure("injected by the load test")
    return views.product_list(request)


# The same route as the shop's, so both sides name the endpoint alike.
urlpatterns = [
    path("api/products/", flaky_product_list),
    path("api/", include("apps.shop.urls")),
]

handler500 = "apps.shop.api.server_error"
