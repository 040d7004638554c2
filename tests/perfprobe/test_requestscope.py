"""Tests for perfprobe.requestscope: a request's scope named after its route lazily."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import resolve

from perfprobe import routes
from perfprobe.access import UNMONITORED_ATTR
from perfprobe.requestscope import RequestScope

from . import requestscope_urls

URLS = "tests.perfprobe.requestscope_urls"


def scope_of(method: str, path: str, *, resolved: bool = True) -> RequestScope:
    """Return the scope of a request to ``path``, resolved as Django would."""
    request = RequestFactory().generic(method, path)
    if resolved:
        request.resolver_match = resolve(request.path_info, urlconf=URLS)
    return RequestScope(None, 1_000.0, 5, None, request)


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/api/orders/7/lines/", "GET /api/orders/<int:pk>/lines/"),
        ("POST", "/legacy/2024/", "POST /legacy/(?P<year>[0-9]{4})/"),
        ("BREW", "/api/orders/7/lines/", "OTHER /api/orders/<int:pk>/lines/"),
    ],
)
def test_a_scope_read_during_the_request_and_at_its_end_has_one_name(
    method: str, path: str, name: str
) -> None:
    """A name read lazily (a probe) is the name the request ends with."""
    early = scope_of(method, path)
    late = scope_of(method, path)

    assert early.name == name  # read first, as a probe in the view would
    assert early.named() == (name, tuple(name.split(" ", 1)))
    assert late.named() == early.endpoint
    assert (late.name, late.suppressed, late.request) == (name, False, None)


def test_an_unresolved_request_is_named_unmatched_at_its_end() -> None:
    """Before resolution the scope is "request"; unresolved at the end, unmatched."""
    scope = scope_of("GET", "/nowhere/", resolved=False)

    assert (scope.name, scope.suppressed, scope.endpoint) == ("request", False, None)
    assert scope.named() == ("GET (unmatched)", ("GET", "(unmatched)"))
    assert scope.name == "GET (unmatched)"


def test_a_request_resolved_again_is_named_after_the_last_match() -> None:
    """A probe named the scope after one URL; the request then resolved another."""
    scope = scope_of("GET", "/legacy/1999/")
    assert scope.name == "GET /legacy/(?P<year>[0-9]{4})/"
    request = scope.request
    assert request is not None
    request.resolver_match = resolve("/api/orders/3/lines/", urlconf=URLS)

    assert scope.named() == (
        "GET /api/orders/<int:pk>/lines/",
        ("GET", "/api/orders/<int:pk>/lines/"),
    )


def test_an_unmonitored_view_suppresses_its_scope_once_resolved() -> None:
    """The flag reads False before resolution, True after, and naming says None."""
    scope = scope_of("GET", "/hidden/", resolved=False)
    assert scope.suppressed is False
    request = scope.request
    assert request is not None
    request.resolver_match = resolve("/hidden/", urlconf=URLS)

    assert scope.suppressed is True
    assert scope.named() is None


def test_naming_that_fails_leaves_the_scope_unnamed() -> None:
    """A match whose route cannot be read is logged, and the scope stays "request"."""
    scope = scope_of("GET", "/legacy/2024/")
    request = scope.request
    assert request is not None
    request.resolver_match = object()

    assert (scope.name, scope.suppressed) == ("request", False)


def test_a_view_marked_unmonitored_after_its_first_request_is_left_out_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is kept per route and method; the view's flag is read each time."""
    assert scope_of("GET", "/later/").named() == ("GET /later/", ("GET", "/later/"))
    monkeypatch.setattr(requestscope_urls.later, UNMONITORED_ATTR, True, raising=False)

    scope = scope_of("GET", "/later/")
    assert scope.named() is None
    assert scope.suppressed is True


def test_each_method_of_a_route_has_its_name_and_the_names_kept_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three names kept at most; a fourth is named right each time, not kept."""
    kept = {route: dict(names) for route, names in routes.endpoint_names.items()}
    routes.endpoint_names.clear()
    monkeypatch.setattr(routes, "MAX_ENDPOINT_NAMES", 3)
    monkeypatch.setattr(routes, "_kept_names", 0)
    try:
        names = [
            scope_of(method, path).named()
            for method, path in [
                ("GET", "/legacy/2024/"),
                ("POST", "/legacy/2024/"),
                ("GET", "/legacy/1999/"),
                ("BREW", "/legacy/2024/"),
                ("PUT", "/legacy/2024/"),
                ("PUT", "/legacy/2024/"),
            ]
        ]
        held = {
            route: sorted(by_method)
            for route, by_method in routes.endpoint_names.items()
        }
    finally:
        routes.endpoint_names.clear()
        routes.endpoint_names.update(kept)

    route = "/legacy/(?P<year>[0-9]{4})/"
    assert [name[0] if name else None for name in names] == [
        f"GET {route}",
        f"POST {route}",
        f"GET {route}",
        f"OTHER {route}",
        f"PUT {route}",
        f"PUT {route}",
    ]
    assert held == {"^legacy/(?P<year>[0-9]{4})/$": ["BREW", "GET", "POST"]}
