"""Name a request by its method and URL pattern, never by its raw path."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

UNMATCHED_ROUTE = "(unmatched)"

# Anything else a client sends is counted under one name, so that invented
# methods neither grow the endpoint table nor reach a terminal unfiltered.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

#: ``("METHOD /route/", (method, route))``: a request's scope name and its
#: endpoint key.
Endpoint = tuple[str, tuple[str, str]]


def route_of(request: HttpRequest) -> str:
    """Return the URL pattern that served ``request``, never the raw path.

    ``ResolverMatch.route`` joins the patterns of nested ``include()`` calls,
    e.g. ``api/orders/<int:pk>/``; requests that matched nothing share one
    bucket so ids in unknown paths cannot grow the endpoint table.
    """
    match = getattr(request, "resolver_match", None)
    route: str = getattr(match, "route", "") or ""
    if not route:
        return UNMATCHED_ROUTE
    return "/" + route.lstrip("^").rstrip("$")


def method_of(request: HttpRequest) -> str:
    """Return the request's HTTP method, or ``OTHER`` for a non-standard one."""
    method = (request.method or "GET").upper()
    return method if method in HTTP_METHODS else "OTHER"


#: Endpoints by ``ResolverMatch.route`` (``None`` when unresolved), then by
#: raw method: naming is the same string work for every request of a view.
#: Two lookups by subscript, not one by a ``(method, route)`` key, which
#: would be a tuple made and hashed per request; a route's hash is usually
#: cached in the very string every match of it holds. Bounded, since
#: clients invent methods; ``RequestScope.named`` reads it directly.
endpoint_names: dict[str | None, dict[str | None, Endpoint]] = {}
MAX_ENDPOINT_NAMES = 1024
_kept_names = 0


def name_endpoint(request: HttpRequest, match: Any) -> Endpoint:
    """Return the endpoint of ``request``, resolved as ``match``, and keep it."""
    global _kept_names
    method, route = method_of(request), route_of(request)
    endpoint = (f"{method} {route}", (method, route))
    if _kept_names < MAX_ENDPOINT_NAMES:
        key = getattr(match, "route", None)
        by_method = endpoint_names.get(key)
        if by_method is None:
            by_method = endpoint_names[key] = {}
        if request.method not in by_method:
            _kept_names += 1
        by_method[request.method] = endpoint
    return endpoint


def endpoint_of(request: HttpRequest) -> tuple[Any, Endpoint]:
    """Return ``(request.resolver_match, endpoint)``, as the middleware keeps it."""
    match = getattr(request, "resolver_match", None)
    return match, name_endpoint(request, match)
