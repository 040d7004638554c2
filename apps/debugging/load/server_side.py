"""Collect what perfprobe's middleware recorded for the load test's requests."""

from __future__ import annotations

import sys
import threading
from types import TracebackType

from perfprobe.collector import Collector
from perfprobe.events import Event, RequestEvent

from .stats import RequestSample


class ServerSideRecorder:
    """Keep every request the middleware records inside one scope, while open.

    ``scope_path`` is the path of the scope the server was started in;
    each request's own scope sits below it. ``None`` keeps every request.
    Use it as a context manager: it listens to ``collector`` while open.
    """

    def __init__(self, collector: Collector, scope_path: str | None) -> None:
        self._collector = collector
        self._prefix = None if scope_path is None else f"{scope_path}/"
        self._lock = threading.Lock()
        self._samples: list[RequestSample] = []

    def __enter__(self) -> ServerSideRecorder:
        self._collector.add_listener(self._on_event)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._collector.remove_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        # Called from the server's request threads, after each response is
        # built and before it is sent, so a client that got its answer has
        # already been counted here.
        if not isinstance(event, RequestEvent):
            return
        if self._prefix is not None and not (event.scope or "").startswith(
            self._prefix
        ):
            return
        # Only what the summary needs is kept, not the whole event, and one
        # copy of each endpoint's name: 100,000 requests take about 10 MB.
        sample = RequestSample(
            endpoint=sys.intern(f"{event.method} {event.route}"),
            status=event.status,
            duration_s=event.duration_s,
            error=event.error_type,
        )
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[RequestSample]:
        """Return the recorded requests as samples keyed ``METHOD /route``."""
        with self._lock:
            return list(self._samples)
