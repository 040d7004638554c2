"""Fan events and closed scopes out to exporters, never failing the recorder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from .failures import log_failure

T = TypeVar("T")

logger = logging.getLogger("perfprobe.collector")


class ListenerList(Generic[T]):
    """Hold callables that receive each item, in the order they were added.

    Adding and removing replace the tuple rather than change it, so a call
    to ``notify`` running in another thread iterates a tuple no one mutates.
    Writers take a lock, so two threads adding at once both get added.
    """

    def __init__(self, kind: str) -> None:
        self._kind = kind
        #: The listeners, replaced (never changed) by ``add`` and ``remove``;
        #: recorders test it before calling ``notify``, which saves a call
        #: per event when nothing listens.
        self.items: tuple[Callable[[T], None], ...] = ()
        self._write_lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, listener: Callable[[T], None]) -> None:
        """Call ``listener(item)`` for every item notified from now on."""
        with self._write_lock:
            self.items = (*self.items, listener)

    def remove(self, listener: Callable[[T], None]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        # Equality, not identity: each ``obj.method`` access makes a new
        # bound method, equal to but never identical with the one added.
        with self._write_lock:
            self.items = tuple(x for x in self.items if x != listener)

    def notify(self, item: T) -> None:
        """Pass ``item`` to every listener; log (once per listener) those that fail."""
        for listener in self.items:
            try:
                listener(item)
            except Exception:
                # Once per listener: an exporter broken for every request
                # would otherwise write a traceback per request.
                log_failure(
                    logger,
                    f"{self._kind} listener {_name_of(listener)}",
                    "perfprobe %s listener %s failed",
                    self._kind,
                    _name_of(listener),
                )


def _name_of(listener: Callable[[T], None]) -> str:
    # A qualified name, not repr(): a repr holds an address, different for
    # each bound method of one kind, and the failure table must stay small.
    module = getattr(listener, "__module__", None) or "?"
    name = getattr(listener, "__qualname__", None) or type(listener).__qualname__
    return f"{module}.{name}"
