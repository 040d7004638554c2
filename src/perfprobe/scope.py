"""Name units of work (requests, scenarios, jobs) through a ``ContextVar``."""

from __future__ import annotations

import itertools
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass(eq=False)
class Scope:
    """A named unit of work that owns the measurements taken inside it."""

    name: str
    kind: str = "user"
    parent: Scope | None = None
    id: int = field(default_factory=lambda: next(_ids))
    started_at: float = field(default_factory=time.time)
    started_ns: int = field(default_factory=time.perf_counter_ns)
    #: The collector's ``ScopeSummary``, set when the scope closes.
    summary: Any = None

    @property
    def path(self) -> str:
        """Return the names from the outermost scope down, joined by ``/``."""
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
