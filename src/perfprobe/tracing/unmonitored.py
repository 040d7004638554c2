"""Tell, before a request is resolved, whether its view is kept out of tracing.

The request span starts in the middleware, before Django resolves the URL,
yet a view marked ``perfprobe.access.unmonitored`` (perfprobe's own report
and metrics views among them) must make no span. The paths such views are
mounted at without a converter (``path("metrics", metrics_view)``, the pages
of ``include("perfprobe.urls")``) are known once the URLconf has loaded:
they are listed once per resolver, each checked by resolving it, so that a
path an earlier pattern shadows is not listed. A request to one of them
starts no span. Other unmonitored views (a converter or a regex in the
route, a ``request.urlconf`` set by a middleware) are known only after the
view has run; their span is then dropped unended (see ``spans``).

Imported only once tracing is on; the lookup costs one ``get_resolver`` call
and one set lookup per traced request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

from ..access import UNMONITORED_ATTR
from ..failures import log_failure

logger = logging.getLogger("perfprobe.tracing")

# The resolver the paths were listed for, and the paths: a new resolver
# (URLconf changed, url caches cleared) lists them again.
_listed: tuple[object, frozenset[str]] = (None, frozenset())


def is_unmonitored_view(request: HttpRequest) -> bool:
    """Return whether the URL ``request`` resolved to has an unmonitored view."""
    match = getattr(request, "resolver_match", None)
    return match is not None and bool(getattr(match.func, UNMONITORED_ATTR, False))


def is_unmonitored_path(path: str) -> bool:
    """Return whether ``path`` is a fixed path of an unmonitored view.

    Reads ``ROOT_URLCONF``, the URLconf Django's handler starts every
    request with; a failure to load it is logged once and answers ``False``.
    """
    global _listed
    # Not get_resolver(get_urlconf()): get_urlconf() reads an asgiref Local,
    # about 2 µs, and the handler has just set it to ROOT_URLCONF anyway.
    resolver = get_resolver()
    listed_for, paths = _listed
    if listed_for is not resolver:
        try:
            paths = frozenset(_unmonitored_paths(resolver))
        except Exception:
            log_failure(
                logger, "list-unmonitored", "perfprobe could not read the URLconf"
            )
            paths = frozenset()
        _listed = (resolver, paths)
    return path in paths


def _unmonitored_paths(resolver: URLResolver) -> Iterator[str]:
    for candidate in _fixed_paths(resolver.url_patterns, "/"):
        try:
            match = resolver.resolve(candidate)
        except Resolver404:
            continue
        if getattr(match.func, UNMONITORED_ATTR, False):
            yield candidate


def _fixed_paths(patterns: Sequence[Any], prefix: str) -> Iterator[str]:
    """Yield the paths of unmonitored views whose whole route is a fixed string."""
    for entry in patterns:
        pattern = entry.pattern
        # A regex, a converter or a language prefix matches more than one
        # path: left to the check once the view is known.
        if type(pattern) is not RoutePattern or pattern.converters:
            continue
        route = prefix + str(pattern)
        if isinstance(entry, URLResolver):
            yield from _fixed_paths(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and getattr(
            entry.callback, UNMONITORED_ATTR, False
        ):
            yield route
