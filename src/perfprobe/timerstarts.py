"""Keep a timer's open starts, per thread and asyncio task, until each block ends."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from .threadlog import ThreadLog

if TYPE_CHECKING:
    from .tracing.spans import BlockSpan

#: Where an open ``with`` block is: its thread alone outside an event loop,
#: its thread and its asyncio task inside one.
_Key = int | tuple[int, int | None]

#: A recording start: ``perf_counter_ns()``, ``time.time()``, the starting
#: thread's log, the block's span and ``SLOW_OPERATION_SECONDS`` as set at the
#: start. A plain tuple: a named one costs a Python-level constructor call per
#: block.
_Start = tuple[int, float, ThreadLog, "BlockSpan | None", float]


class _Off:
    """The start of a block that records nothing (timing was off at its start)."""

    __slots__ = ()


_OFF = _Off()
#: What a timer holds per key: one start, or a stack of them when one timer
#: is entered again by the same thread and task before it was left.
_Open = _Start | _Off | list[_Start | _Off]
#: A timer's open starts by key; the usual block's is entered and left with
#: one atomic dict call each in ``ExecutionTimer``, the cases below take the
#: lock.
Starts = dict[_Key, _Open]

_STARTS_LOCK = threading.RLock()


def _task_key(thread_id: int, loop: asyncio.AbstractEventLoop) -> _Key:
    task = asyncio.current_task(loop)
    return thread_id, None if task is None else id(task)


def push(starts: Starts, key: _Key, start: _Start | _Off) -> None:
    """Add a start to ``starts`` for a key that has one already: a shared timer."""
    with _STARTS_LOCK:
        held = starts.get(key)
        if held is None:
            starts[key] = start
        elif isinstance(held, list):
            held.append(start)
        else:
            starts[key] = [held, start]


def pop_stack(starts: Starts, key: _Key, held: list[_Start | _Off]) -> _Start | _Off:
    """Take the newest start of a stack popped whole; put the rest back."""
    with _STARTS_LOCK:
        start = held.pop()
        if held:
            # Starts made meanwhile (a finaliser in this thread) are
            # newer than the stack's.
            newer = starts.get(key)
            if newer is None:
                starts[key] = held
            elif isinstance(newer, list):
                starts[key] = held + newer
            else:
                starts[key] = [*held, newer]
        return start


def take(starts: Starts, key: _Key) -> _Start | _Off | None:
    """Take the start of ``key`` from a stack, or the only one open.

    A block entered while its thread had no other block of the timer open
    was kept under the thread alone (see ``ExecutionTimer.__enter__``): a
    task key found nowhere takes that single start.
    """
    with _STARTS_LOCK:
        held = starts.get(key)
        if held is None and type(key) is tuple:
            # A stack under the thread alone was made outside any event
            # loop (inside one every second entry gets a task key): it is
            # not this task's.
            held = starts.get(key[0])
            if held is not None and not isinstance(held, list):
                key = key[0]
            else:
                held = None
        if held is None and len(starts) == 1:
            # A generator entered the block in one thread or task and
            # was resumed in another; with a single open start there is
            # no doubt whose it is.
            ((key, held),) = starts.items()
            if isinstance(held, list) and len(held) != 1:
                return None
        if held is None:
            return None
        if not isinstance(held, list):
            del starts[key]
            return held
        start = held.pop()
        if not held:
            del starts[key]
        return start
