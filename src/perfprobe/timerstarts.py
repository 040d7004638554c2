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

_STARTS_LOCK = threading.RLock()


def _task_key(thread_id: int, loop: asyncio.AbstractEventLoop) -> _Key:
    task = asyncio.current_task(loop)
    return thread_id, None if task is None else id(task)


class StartTable:
    """The open starts of one timer: ``_starts``, read and changed here.

    Mixed into ``ExecutionTimer``, which makes the table and enters and
    leaves the usual block with one atomic dict call each; the cases that
    need the lock (a key entered twice, a start found under another key)
    are here.
    """

    __slots__ = ()

    _starts: dict[_Key, _Open]

    def _push(self, key: _Key, start: _Start | _Off) -> None:
        """Add a start for a key that has one already: the timer is shared."""
        with _STARTS_LOCK:
            held = self._starts.get(key)
            if held is None:
                self._starts[key] = start
            elif isinstance(held, list):
                held.append(start)
            else:
                self._starts[key] = [held, start]

    def _pop_stack(self, key: _Key, held: list[_Start | _Off]) -> _Start | _Off:
        """Take the newest start of a stack popped whole; put the rest back."""
        with _STARTS_LOCK:
            start = held.pop()
            if held:
                starts = self._starts
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

    def _take(self, key: _Key) -> _Start | _Off | None:
        """Take the start of ``key`` from a stack, or the only one open.

        A block entered while its thread had no other block of the timer
        open was kept under the thread alone (see ``__enter__``): a task key
        found nowhere takes that single start.
        """
        with _STARTS_LOCK:
            starts = self._starts
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
