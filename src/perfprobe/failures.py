"""Log each kind of failure inside perfprobe once per process; count the rest.

A probe that fails, fails for every request: a traceback per request would
flood the application's logs and cost more than the monitoring itself. The
first failure of a kind is logged at ERROR with its traceback, through the
logger of the subsystem that failed; later ones are counted and logged at
DEBUG without the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()
# A forked worker starts with its parent's counts; its own first failure of a
# kind must still reach its own log, so counts belong to one process id.
_pid = os.getpid()


def log_failure(logger: logging.Logger, kind: str, message: str, *args: object) -> None:
    """Log the exception being handled as a failure of ``kind`` in ``logger``.

    Call it from an ``except`` block. The first failure of ``(logger, kind)``
    in this process is logged with ``logger.exception``; later ones only at
    DEBUG, with the exception's type and the running count. ``kind`` must be
    a fixed string (never built from request data), so the table stays
    small. Never raises.
    """
    global _pid
    try:
        key = (logger.name, kind)
        with _lock:
            if os.getpid() != _pid:
                _pid = os.getpid()
                _counts.clear()
            _counts[key] += 1
            count = _counts[key]
        if count == 1:
            logger.exception(
                message + " (logged once; later failures of this kind at DEBUG)",
                *args,
                extra={"perfprobe_failure": kind},
                # The record names the probe that failed, not this helper.
                stacklevel=2,
            )
        elif logger.isEnabledFor(logging.DEBUG):
            exc = sys.exc_info()[1]
            logger.debug(
                message + " again (%s, failure %d of kind %r)",
                *args,
                type(exc).__name__ if exc is not None else "no exception",
                count,
                kind,
                extra={"perfprobe_failure": kind, "failure_count": count},
                stacklevel=2,
            )
    except Exception:  # pragma: no cover - logging itself is broken
        return


def failure_counts() -> dict[tuple[str, str], int]:
    """Return how often each ``(logger name, kind)`` failed in this process."""
    with _lock:
        if os.getpid() != _pid:
            return {}
        return dict(_counts)


def reset_failures() -> None:
    """Forget the counts, so the next failure of every kind is logged again."""
    with _lock:
        _counts.clear()
