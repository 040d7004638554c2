"""Name units of work (requests, scenarios, jobs) through a ``ContextVar``."""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

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
    #: The collector's ``ScopeSummary``, set when the scope closes.
    summary: Any = None
    #: The asyncio task that opened the scope, if any (see ``db.asyncsite``).
    task: weakref.ref[asyncio.Task[Any]] | None = None
    #: The collector's scope table while the scope is open there, else
    #: ``None`` (see ``perfprobe.scopetable``).
    tracker: Any = field(default=None, repr=False)
    #: Read only while the scope is a request's mark (``perfprobe.suppression``):
    #: whether the request's work is kept out of the data.
    suppressed: bool = False
    #: Set by the request middleware once it has named a request's scope:
    #: ``(resolver_match, ("METHOD /route/", (method, route)))``.
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


current_scope: ContextVar[Scope | None] = ContextVar("perfprobe_scope", default=None)


def get_current_scope() -> Scope | None:
    """Return the innermost active scope of this context, or ``None``."""
    return current_scope.get()


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
