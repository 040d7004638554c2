"""Find the line of async user code that awaits a query run by sync_to_async.

The async ORM (``aget()``, ``async for``, ``acount()``...) runs each query
through ``asgiref.sync.sync_to_async``: in a worker thread, or in the thread
that called ``async_to_sync``. That thread's stack holds no frame of the
``async def`` view that issued the query, only asgiref's ``thread_handler``
and, above it, whatever unrelated code started the thread. The caller is a
suspended coroutine of an asyncio task: when the task that opened the
current scope is the one awaiting this very call, its chain of awaits names
the line.

Best effort, and never a guess: a call awaited by another task (say one of
``asyncio.gather()``'s children), or by a task still running after 2 ms,
gives no call site rather than a wrong one.
It reads asgiref internals (``SyncToAsync.__call__``'s ``child`` and
``thread_handler``'s ``args``); when they change, it finds nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from ..scope import Scope

#: Qualified names of asgiref's functions on either side of the thread hop.
THREAD_HANDLER = "SyncToAsync.thread_handler"
AWAITING_CALL = "SyncToAsync.__call__"

# Coroutine chains are short (a view, the middleware, Django's handler); a
# deeper one is not followed to its end.
_MAX_AWAIT_DEPTH = 100
# How long a query waits, at most, for its task to reach the await: 2 ms.
_MAX_WAITS = 20
_WAIT_S = 0.0001


def _await_chain(awaitable: Any) -> Iterator[FrameType]:
    """Yield a suspended coroutine's frame and those it awaits, outermost first."""
    for _ in range(_MAX_AWAIT_DEPTH):
        frame = getattr(awaitable, "cr_frame", None) or getattr(
            awaitable, "gi_frame", None
        )
        if frame is None:
            return
        yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(
            awaitable, "gi_yieldfrom", None
        )


def _scope_task(scope: Scope | None) -> asyncio.Task[Any] | None:
    """Return the live task that opened the innermost scope of ``scope``'s lineage."""
    node = scope
    while node is not None:
        ref = node.task
        if ref is not None:
            task: asyncio.Task[Any] | None = ref()
            return task if task is not None and not task.done() else None
        node = node.parent
    return None


def awaiting_site(
    handler_frame: FrameType,
    scope: Scope | None,
    user_site: Callable[[FrameType], str | None],
) -> str | None:
    """Return ``path:line`` of the user code awaiting the call ``handler_frame`` runs.

    ``handler_frame`` is asgiref's ``thread_handler`` frame found on this
    thread's stack; ``user_site`` returns a frame's ``path:line`` when it is
    user code, else ``None``. Returns ``None`` when the awaiting coroutine
    cannot be told for certain.
    """
    args = handler_frame.f_locals.get("args")
    if not isinstance(args, tuple) or not args:
        return None
    child = args[0]
    task = _scope_task(scope)
    if task is None:
        return None

    coro = task.get_coro()
    for _ in range(_MAX_WAITS):
        if not getattr(coro, "cr_running", False):
            break
        # The task handed this call over and is still on its way to the
        # await: starting the executor's thread let the thread run first.
        time.sleep(_WAIT_S)

    site: str | None = None
    for frame in _await_chain(coro):
        if frame.f_code.co_qualname == AWAITING_CALL:
            # Identity, not equality: this coroutine awaits exactly our call.
            return site if frame.f_locals.get("child") is child else None
        site = user_site(frame) or site
    return None
