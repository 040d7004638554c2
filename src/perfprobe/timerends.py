"""End timer blocks off the usual path: recorded at once, or found the long way.

``ExecutionTimer.__exit__`` (in ``timing``) handles the usual block inline: it
ended normally, in its own thread, with no span and no listener. The rarer
endings live here, out of the hot module: a block that failed, carries a span
or has listeners waiting is recorded at once as an ``OperationEvent``, and a
block whose start the quick pop did not find is looked up per thread and task.
"""

from __future__ import annotations

import asyncio
import logging
import reprlib
import threading
from typing import TYPE_CHECKING

from . import tracing
from .db.callsite import find_raise_site
from .events import OperationEvent, error_type_name, is_interruption
from .failures import log_failure
from .scope import current_scope
from .timerstarts import _Off, _Start, _task_key, pop_stack, take

if TYPE_CHECKING:
    from .timing import ExecutionTimer

# The timer's own logger: these are its messages, whichever module runs them.
logger = logging.getLogger("perfprobe.timing")

_running_loop = asyncio._get_running_loop


def record_now(
    timer: ExecutionTimer,
    start: _Start,
    exc: BaseException | None,
    thread_id: int,
    duration_s: float,
) -> None:
    """Record a failed block, or one with a span or listeners, right away."""
    log, span = start[2], start[3]
    collector = timer._monitor.collector
    # The thread that was counted busy, wherever the block ended.
    if thread_id == log.thread_id:
        log.busy -= 1
    else:
        collector.thread_log_ended_elsewhere(log)
    if is_interruption(exc):
        # Cancelled (a client disconnect) or its generator closed: the
        # time is kept, but the block did not fail.
        exc = None
    if span is not None:
        tracing.end_block(span, exc)
    scope = current_scope.get()
    thread = threading.current_thread()
    event = OperationEvent(
        name=timer.name,
        duration_s=duration_s,
        started_at=start[1],
        thread_id=thread.ident or 0,
        thread_name=thread.name,
        scope=scope.path if scope else None,
        tags=dict(timer.tags) if timer.tags else {},
        error_type=error_type_name(type(exc)) if exc is not None else None,
        raised_at=find_raise_site(exc) if exc is not None else None,
    )
    collector.record_operation(event, scope)


def exit_unusual(
    timer: ExecutionTimer,
    popped: list[_Start | _Off] | None,
    exc: BaseException | None,
    thread_id: int,
    ended_ns: int,
) -> None:
    """End a block whose start the quick pop in ``__exit__`` did not find.

    ``popped`` is the stack the pop took (a timer entered again in this
    thread before it was left), or ``None``.
    """
    try:
        if popped is None:
            loop = _running_loop()
            key = thread_id if loop is None else _task_key(thread_id, loop)
            taken = take(timer._starts, key)
        else:
            taken = pop_stack(timer._starts, thread_id, popped)
    except Exception:
        log_failure(logger, "end", "perfprobe failed to end operation %r", timer.name)
        return
    if taken is None:
        logger.debug(
            "perfprobe found no start for operation %r in this thread and "
            "task; nothing recorded",
            timer.name,
        )
    elif isinstance(taken, tuple):
        timer._finish(taken, exc, thread_id, ended_ns)


def bad_name(name: object) -> ValueError:
    """Return the error for a timer name that is not a non-empty ``str``."""
    return ValueError(
        "measure_execution_time() needs a non-empty name (a str), "
        f"not {reprlib.repr(name)}"
    )
