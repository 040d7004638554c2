"""Give a request's scope its route name and unmonitored flag when first read."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from django.http import HttpRequest

from .access import UNMONITORED_ATTR
from .failures import log_failure
from .routes import Endpoint, endpoint_names, name_endpoint
from .scope import Scope, next_scope_id

logger = logging.getLogger("perfprobe.request")


class _FromRoute:
    """A ``RequestScope`` attribute worked out from the request's URL match.

    A non-data descriptor: once the URL is resolved, the first read stores
    the name, the endpoint and the unmonitored flag in the scope's
    ``__dict__``, where every later read finds them without a call (and a
    write, as ``Scope`` makes, lands there too). Before that, a read returns
    what a scope not yet named holds.
    """

    def __init__(self, unresolved: Any) -> None:
        self.unresolved = unresolved
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name

    def __get__(self, scope: RequestScope | None, owner: type | None = None) -> Any:
        if scope is None:
            return self
        if scope.resolve() is None:
            return self.unresolved
        return getattr(scope, self.attr)


class RequestScope(Scope):
    """The scope of one request, as the request middleware opens it.

    A ``Scope`` in every way, named ``"request"`` until the request's URL is
    resolved: from then on it is named after its route, and marked
    ``suppressed`` if the view is ``perfprobe.access.unmonitored``, the first
    time anything reads the name, the endpoint or the flag (a probe inside
    the view, or the middleware once the response is back). So no hook runs
    for this between the URL's resolution and the view. Its own ``__init__``
    sets only what differs per request: the fields left out keep their
    defaults as class attributes.
    """

    name = _FromRoute("request")
    kind = "request"
    #: Read through the request's mark (``perfprobe.suppression``).
    suppressed = _FromRoute(False)
    #: ``("METHOD /route/", (method, route))`` once named.
    endpoint = _FromRoute(None)
    #: The URL match a probe had the scope named after, if any.
    named_match: Any = None
    may_wait = True
    _summary: Any = None

    @property
    def summary(self) -> Any:
        """Return the collector's ``ScopeSummary``, closing its batch if waiting."""
        collector = self.waits_in
        if collector is not None:
            collector.close_pending()
            lock = collector._lock
            if self.waits_in is not None and not lock._is_owned():
                # Another thread is closing the batch, under the lock.
                with lock:
                    pass
        return self._summary

    @summary.setter
    def summary(self, value: Any) -> None:
        self._summary = value

    def __init__(
        self,
        parent: Scope | None,
        started_at: float,
        started_ns: int,
        task: weakref.ref[asyncio.Task[Any]] | None,
        request: HttpRequest | None = None,
        tracker: Any = None,
    ) -> None:
        self.parent = parent
        self.id = next_scope_id()
        self.started_at = started_at
        self.started_ns = started_ns
        self.task = task
        #: The request, until the middleware has named the scope for good
        #: (a scope outlives its request in the collector's history).
        self.request = request
        #: Set to the collector's scope table by the middleware: opened
        #: there as it is made (see ``Collector.scope_opened``).
        self.tracker = tracker

    def resolve(self) -> Endpoint | None:
        """Name the scope after the request's URL match; ``None`` if unresolved.

        A failure is logged to ``perfprobe.request`` and leaves the scope
        unnamed.
        """
        request: Any = self.request
        match = getattr(request, "resolver_match", None)
        if match is None:
            return None
        try:
            try:
                endpoint = endpoint_names[match.route][request.method]
            except KeyError:
                endpoint = name_endpoint(request, match)
            # Attribute stores, not the instance's __dict__, which would
            # make CPython build a dict for the scope's inline values.
            self.name = endpoint[0]
            self.endpoint = endpoint
            self.suppressed = bool(getattr(match.func, UNMONITORED_ATTR, False))
            self.named_match = match
        except Exception:
            log_failure(
                logger, "name-scope", "perfprobe failed to name the request scope"
            )
            return None
        return endpoint

    def named(self) -> Endpoint | None:
        """Name the scope for good; return its endpoint, ``None`` if unmonitored.

        Named as the request's URL match now stands: again if the request
        was resolved again since a probe first had it named; a request no
        URL matched is ``(unmatched)``. The scope lets go of the request.
        Once per request: kept short.
        """
        request: Any = self.request
        self.request = None
        match = request.resolver_match
        if match is None:
            route = None
        elif match is self.named_match:
            return None if self.suppressed else self.endpoint
        else:
            route = match.route
        # Subscripts, which cost no call; a miss is the first request of
        # its route and method.
        endpoint: Endpoint
        try:
            endpoint = endpoint_names[route][request.method]
        except KeyError:
            endpoint = name_endpoint(request, match)
        self.name = endpoint[0]
        self.endpoint = endpoint
        # Read on every request, not kept with the name: a view marked
        # unmonitored after its first request is left out from then on.
        if match is not None and getattr(match.func, UNMONITORED_ATTR, False):
            self.suppressed = True
            return None
        return endpoint
