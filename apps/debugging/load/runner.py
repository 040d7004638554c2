"""Send a bounded number of requests from concurrent client threads."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..client import HttpResult, request_json
from .stats import RequestSample

logger = logging.getLogger("apps.debugging.load")

#: ``send(base_url, method, path, payload, timeout_s)``, as ``request_json``.
Sender = Callable[[str, str, str, Any, float], HttpResult]


@dataclass(frozen=True)
class LoadEndpoint:
    """One request of the mix: what is sent and the route perfprobe files it by."""

    method: str
    #: The path as sent, query string included.
    path: str
    #: The URL pattern the middleware names the request by.
    route: str
    payload: Any = None

    @property
    def key(self) -> str:
        """Return ``METHOD /route``, the name both sides use for the endpoint."""
        # Interned: every sample holds it, and one copy serves them all.
        return sys.intern(f"{self.method} {self.route}")


@dataclass(frozen=True)
class LoadOutcome:
    """What the clients measured: every sample and the wall time of the run."""

    samples: list[RequestSample]
    elapsed_s: float
    clients: int
    requests_planned: int
    #: True when the time limit (or Ctrl-C) stopped requests from being sent.
    stopped_early: bool


class _Dispatcher:
    """Hand out request numbers until the count or the time limit is reached."""

    def __init__(self, requests: int, deadline: float) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._requests = requests
        self._deadline = deadline
        self.stop = threading.Event()
        self.stopped_early = False

    def take(self) -> int | None:
        """Return the next request's number, or ``None`` when no more may go."""
        with self._lock:
            if self._next >= self._requests:
                return None
            if self.stop.is_set() or time.perf_counter() >= self._deadline:
                self.stopped_early = True
                return None
            number = self._next
            self._next += 1
            return number


def run_load(
    base_url: str,
    endpoints: Sequence[LoadEndpoint],
    *,
    clients: int,
    requests: int,
    time_limit_s: float,
    request_timeout_s: float,
    send: Sender | None = None,
) -> LoadOutcome:
    """Send ``requests`` requests over ``clients`` threads and time each one.

    Request ``i`` goes to ``endpoints[i % len(endpoints)]``, so the mix is
    known exactly. No request starts after ``time_limit_s``; each one waits
    at most ``request_timeout_s`` for its answer. On any exception in this
    thread (Ctrl-C) the clients are told to stop and the exception goes on.
    ``send`` replaces ``request_json`` (tests use it to script answers).
    """
    if not endpoints:
        raise ValueError("a load test needs at least one endpoint")
    if clients < 1 or requests < 1:
        raise ValueError(
            f"clients and requests must be 1 or more, not {clients}, {requests}"
        )
    sender = send or request_json
    started = time.perf_counter()
    dispatcher = _Dispatcher(requests, started + time_limit_s)
    samples: list[RequestSample] = []

    def client() -> None:
        while (number := dispatcher.take()) is not None:
            endpoint = endpoints[number % len(endpoints)]
            # list.append is atomic, so the clients share one list unlocked.
            samples.append(_send_one(base_url, endpoint, request_timeout_s, sender))

    threads = [
        threading.Thread(target=client, name=f"perfprobe-load-client-{i}", daemon=True)
        for i in range(clients)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            # Short waits, so that Ctrl-C is seen at once however it arrives.
            while thread.is_alive():
                thread.join(0.05)
    except BaseException:
        # Daemon threads: a request still in flight cannot hold up the exit,
        # and none starts after this.
        dispatcher.stop.set()
        raise
    return LoadOutcome(
        samples=list(samples),
        elapsed_s=time.perf_counter() - started,
        clients=clients,
        requests_planned=requests,
        stopped_early=dispatcher.stopped_early,
    )


def _send_one(
    base_url: str, endpoint: LoadEndpoint, timeout_s: float, send: Sender
) -> RequestSample:
    started = time.perf_counter_ns()
    try:
        result = send(
            base_url, endpoint.method, endpoint.path, endpoint.payload, timeout_s
        )
    except Exception as exc:
        # No answer (refused, reset, timed out) is a failed request, not a
        # crashed client: the load goes on and the error rate shows it.
        duration_s = (time.perf_counter_ns() - started) / 1e9
        logger.debug("load request %s failed: %s", endpoint.key, exc)
        return RequestSample(
            endpoint.key, None, duration_s, f"{type(exc).__name__}: {exc}"[:200]
        )
    return RequestSample(endpoint.key, result.status, result.duration_s)
