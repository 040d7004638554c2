"""Install the query recorder on every database connection; remove it by identity."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from ..failures import log_failure
from . import instrument

logger = logging.getLogger("perfprobe.db")

# Named after the module that held the receiver first; kept unchanged.
_DISPATCH_UID = "perfprobe.db.instrument"

_lock = threading.Lock()
_installed = False
# Every connection the recorder was added to, in any thread; weak, so a
# thread's connections can be collected when the thread ends.
_instrumented: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()


def _attach(connection: BaseDatabaseWrapper) -> None:
    wrappers = connection.execute_wrappers
    if not any(wrapper is instrument.recorder for wrapper in wrappers):
        # First, not last: connection.execute_wrapper() pops the last item
        # when its block ends, so appending inside a user's block would get
        # the recorder removed instead of the user's wrapper.
        wrappers.insert(0, instrument.recorder)
    with _lock:
        _instrumented.add(connection)


def _on_connection_created(
    sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    try:
        _attach(connection)
    except Exception:
        log_failure(
            logger,
            "instrument-connection",
            "perfprobe could not instrument connection %r",
            connection,
        )


def install() -> None:
    """Record queries on every connection from now on; calling again is harmless.

    Connections opened later, in any thread, are instrumented when Django
    sends ``connection_created``; those already open are instrumented only
    in the calling thread, since Django keeps connections per thread.
    """
    global _installed
    with _lock:
        if not _installed:
            connection_created.connect(
                _on_connection_created, dispatch_uid=_DISPATCH_UID
            )
            _installed = True
    for connection in connections.all(initialized_only=True):
        _attach(connection)


def uninstall() -> None:
    """Stop recording: remove the recorder, by identity, from every connection.

    Other execute wrappers, before or after it, stay where they are.
    Calling it when not installed is harmless.
    """
    global _installed
    with _lock:
        connection_created.disconnect(dispatch_uid=_DISPATCH_UID)
        _installed = False
        instrumented = list(_instrumented)
        _instrumented.clear()
    for connection in instrumented:
        wrappers = connection.execute_wrappers
        for index in range(len(wrappers) - 1, -1, -1):
            if wrappers[index] is instrument.recorder:
                del wrappers[index]


def is_installed() -> bool:
    """Return whether ``install()`` is in effect."""
    return _installed
