"""Defer calls that re-enter the collector's lock from a finaliser."""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from .failures import log_failure

logger = logging.getLogger("perfprobe.collector")

P = ParamSpec("P")
R = TypeVar("R")


class _ThreadDepth(threading.local):
    depth = 0


class GuardedLock:
    """A lock that knows whether the current thread is inside it.

    The garbage collector can run a finaliser at any allocation, and so
    inside the lock: a generator left suspended in a timed block, or one
    whose cleanup runs a query, then records from the thread that already
    holds the lock. The depth is raised before the lock is taken and lowered
    after it is released, so such a call always sees it and is queued
    instead of waiting for itself. The lock is re-entrant only so that a
    reader (a snapshot) called that way cannot deadlock either.
    """

    __slots__ = ("_deferred", "_lock", "_thread")

    def __init__(self) -> None:
        self._thread = _ThreadDepth()
        self._lock = threading.RLock()
        # deque.append and popleft are atomic, so a finaliser may queue a
        # call while any thread is draining.
        self._deferred: deque[Callable[[], object]] = deque()

    def __enter__(self) -> None:
        self._thread.depth += 1
        self._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()
        self._thread.depth -= 1

    def run_deferred(self) -> None:
        """Run the queued calls in order, logging (not raising) their failures."""
        while True:
            try:
                call = self._deferred.popleft()
            except IndexError:
                return
            try:
                call()
            except Exception:
                log_failure(
                    logger, "deferred-call", "perfprobe failed to apply a deferred call"
                )


class _Guarded(Protocol):
    _lock: GuardedLock


G = TypeVar("G", bound=_Guarded)


def deferred_if_reentered(
    method: Callable[Concatenate[G, P], R],
) -> Callable[Concatenate[G, P], R | None]:
    """Queue a call made from inside ``self._lock`` instead of blocking on it.

    Such a call can only come from a finaliser run in the middle of another
    call; running it then would see half-updated state. It is queued,
    returns ``None``, and runs once the outermost call has released the lock.
    """

    @functools.wraps(method)
    def guarded(self: G, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        lock = self._lock
        if lock._thread.depth:
            lock._deferred.append(functools.partial(method, self, *args, **kwargs))
            return None
        try:
            return method(self, *args, **kwargs)
        finally:
            if lock._deferred:
                lock.run_deferred()

    return guarded
