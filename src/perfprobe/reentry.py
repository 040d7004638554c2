"""Defer calls that re-enter the collector's lock from a finaliser."""

from __future__ import annotations

import _thread
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from .failures import log_failure

logger = logging.getLogger("perfprobe.collector")

P = ParamSpec("P")
R = TypeVar("R")


# typeshed marks RLock final, but CPython (3.11 to 3.13) lets it be subclassed.
class GuardedLock(_thread.RLock):  # type: ignore[misc]
    """A lock that knows whether the current thread is inside it.

    The garbage collector can run a finaliser at any allocation, and so
    inside the lock: a generator left suspended in a timed block, or one
    whose cleanup runs a query, then records from the thread that already
    holds the lock. Such a call finds the lock owned by its own thread
    (``_is_owned()``) and is queued instead of waiting for itself. The lock
    is re-entrant only so that a reader (a snapshot) called that way cannot
    deadlock either.

    It is the C ``RLock`` itself: no Python code runs between taking the
    lock and owning it, so ownership is the exact "inside" test, and
    ``with lock:`` costs no Python frame (it is taken on every recorded
    query, request and timer).
    """

    __slots__ = ("_deferred",)

    def __init__(self) -> None:
        super().__init__()
        # deque.append and popleft are atomic, so a finaliser may queue a
        # call while any thread is draining.
        self._deferred: deque[Callable[[], object]] = deque()

    def fold(self, work: Callable[[], object]) -> None:
        """Run ``work`` holding the lock, then the calls it deferred.

        For the folds that readers call before they take the lock for their
        read: a finaliser that ``work``'s allocations run, and that records
        while the lock is held, is queued and runs once the lock is
        released, before the read rather than after it.
        """
        self.acquire()
        try:
            work()
        finally:
            self.release()
        if self._deferred:
            self.run_deferred()

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
        # RLock's own check that the calling thread holds it (C, no frame).
        if lock._is_owned():  # type: ignore[attr-defined]
            lock._deferred.append(functools.partial(method, self, *args, **kwargs))
            return None
        try:
            return method(self, *args, **kwargs)
        finally:
            if lock._deferred:
                lock.run_deferred()

    return guarded
