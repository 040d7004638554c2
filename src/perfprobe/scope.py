"""Name units of work (requests, scenarios, jobs) through a ``ContextVar``."""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

#: Return the next scope id; a C callable, so a scope costs no Python frame
#: for it.
next_scope_id = itertools.count(1).__next__


@dataclass(eq=False)
class Scope:
    """A named unit of work that owns the measurements taken inside it."""

    name: str
    kind: str = "user"
    parent: Scope | None = None
    id: int = field(default_factory=next_scope_id)
    started_at: float = field(default_factory=time.time)
    started_ns: int = field(default_factory=time.perf_counter_ns)
    #: The collector's ``ScopeSummary``, set when the scope closes (a
    #: request's scope whose close waits in a batch closes it when read).
    summary: Any = None
    #: The asyncio task that opened the scope, if any (see ``db.asyncsite``).
    task: weakref.ref[asyncio.Task[Any]] | None = None
    #: The collector's scope table while the scope is open there, else
    #: ``None`` (see ``perfprobe.scopetable``).
    tracker: Any = field(default=None, repr=False)
    #: Whether the work done while the scope is current is kept out of the
    #: data (``perfprobe.suppression``: the current scope is the mark).
    suppressed: bool = False
    #: Set by the request middleware once it has named a request's scope:
    #: ``("METHOD /route/", (method, route))``.
    endpoint: Any = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """Return the names from the outermost scope down, joined by ``/``."""
        if self.parent is None:
            return self.name
        names: list[str] = []
        node: Scope | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names))

    def lineage(self) -> list[Scope]:
        """Return this scope and its ancestors, innermost first."""
        chain: list[Scope] = []
        node: Scope | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    #: ``True`` for a mark that only keeps work out of the data (a request
    #: left out, see ``perfprobe.suppression.RequestMark``): not a unit of
    #: work of its own, so ``get_current_scope`` and new scopes look past it.
    is_mark = False
    #: The HTTP request the scope (or mark) stands for while the request
    #: middleware serves it (for a scope opened inside a request left out,
    #: that request), else ``None``: a second entry of the middleware in
    #: ``MIDDLEWARE`` finds the request among the current scope's ancestors
    #: and passes it on instead of recording it again.
    # Not annotated, so not a dataclass field: only a request's scope and a
    # mark hold one.
    request = cast(Any, None)
    #: The mark that was current when the scope was opened inside a request
    #: left out (it is not the parent): leaving the scope out of order makes
    #: the mark current again, not the parent (see ``leave_scope``).
    outer_mark = cast(Any, None)
    #: Whether the collector may leave the scope's close for a later batch
    #: (``Collector.close_pending``): only a request's scope, whose
    #: ``summary`` closes the batch when read.
    may_wait = False
    #: The collector whose batch the scope's close waits in, if any.
    waits_in = cast(Any, None)


class ChildScope(Scope):
    """A scope opened inside another: suppressed while its parent is.

    Its parent may be a request's scope that turns out to serve an
    unmonitored view only after this scope was opened (one opened by a
    middleware below perfprobe's, before the URL is resolved), so the flag
    is read from the parent each time rather than copied when opened.
    """

    _own_suppressed = False

    @property
    def suppressed(self) -> bool:
        """Return whether this scope's work is kept out of the data."""
        if self._own_suppressed:
            return True
        parent = self.parent
        return parent is not None and parent.suppressed

    @suppressed.setter
    def suppressed(self, value: bool) -> None:
        self._own_suppressed = value


#: The innermost scope of this context, which is also its suppression mark:
#: probes skip their work while it is ``suppressed``. One variable for both,
#: so that a request sets and resets one, not two.
current_scope: ContextVar[Scope | None] = ContextVar("perfprobe_scope", default=None)


def enclosing_scope(scope: Scope | None) -> Scope | None:
    """Return ``scope``, or the first of its ancestors that is not a mark."""
    while scope is not None and scope.is_mark:
        scope = scope.parent
    return scope


def get_current_scope() -> Scope | None:
    """Return the innermost active scope of this context, or ``None``.

    A mark that only keeps a request out of the data is not one: the scope
    it was set inside of is returned.
    """
    scope = current_scope.get()
    if scope is not None and scope.is_mark:
        return enclosing_scope(scope)
    return scope


def current_task_ref() -> weakref.ref[asyncio.Task[Any]] | None:
    """Return a weak reference to the asyncio task running now, or ``None``.

    Weak, so that a scope kept alive elsewhere does not keep its finished
    task, and that task's coroutine frames, alive too.
    """
    # Asked first, because current_task() raises, which costs more than
    # the rest of opening a scope, when no loop runs: synchronous code.
    loop = asyncio._get_running_loop()
    if loop is None:
        return None
    task = asyncio.current_task(loop)
    return weakref.ref(task) if task is not None else None
