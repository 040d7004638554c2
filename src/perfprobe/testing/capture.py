"""Collect the queries run inside one block, in its context and the threads given it."""

from __future__ import annotations

import threading
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType

from .. import monitoring
from ..collector import Collector
from ..conf import get_settings
from ..events import Event, QueryEvent
from ..nplusone import NPlusOneFinding, ScopeQueries

# The captures open in this context. A ContextVar, so that asyncio tasks,
# sync_to_async threads and threads started through monitor.propagate()
# count for the blocks that were open where they were started, and nothing
# else does.
_open_captures: ContextVar[tuple[QueryCapture, ...]] = ContextVar(
    "perfprobe_open_captures", default=()
)


@dataclass(frozen=True)
class QueryGroup:
    """The queries of one shape (fingerprint) from one call site in a block."""

    fingerprint: str
    call_site: str | None
    count: int


class QueryCapture:
    """Count and analyse every query the default monitor records inside the block.

    A query counts when it runs in the context that entered the block, or in
    a task or thread that inherited that context (asyncio tasks,
    ``sync_to_async``, ``monitor.propagate()`` called inside the block).
    Queries of other threads are not counted. Captures nest: each counts
    everything run inside it, including inside the captures nested in it.
    At most ``MAX_QUERY_GROUPS_PER_SCOPE`` shapes are told apart; the
    queries past that are still counted in ``count`` and in ``other``.
    """

    def __init__(self) -> None:
        self.count = 0
        #: Queries counted but not grouped, past the bound on groups.
        self.other = 0
        self._max_groups = 0
        self._groups: dict[tuple[str, str | None], int] = {}
        #: Each group's first query: its lazy load and its scope's name.
        self._firsts: dict[tuple[str, str | None], QueryEvent] = {}
        self._analysis = ScopeQueries(0)
        # Threads given the block's context report their queries at once.
        self._lock = threading.Lock()
        self._collector: Collector | None = None
        self._token: Token[tuple[QueryCapture, ...]] | None = None

    def __enter__(self) -> QueryCapture:
        # The settings are read on entry, not on creation: Django may not
        # have been set up when the object was made.
        self._max_groups = get_settings().MAX_QUERY_GROUPS_PER_SCOPE
        with self._lock:
            self.count = self.other = 0
            self._groups = {}
            self._firsts = {}
            self._analysis = ScopeQueries(self._max_groups)
        # Looked up now, like the query recorder does at each query: a test
        # may have replaced the default monitor.
        self._collector = monitoring.monitor.collector
        self._token = _open_captures.set((*_open_captures.get(), self))
        self._collector.add_listener(self._on_event)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._collector is not None:
            self._collector.remove_listener(self._on_event)
        if self._token is not None:
            try:
                _open_captures.reset(self._token)
            except ValueError:
                # Left in another context than the one it was entered in (a
                # generator closed elsewhere): drop this capture from it.
                _open_captures.set(
                    tuple(c for c in _open_captures.get() if c is not self)
                )
            self._token = None

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, QueryEvent) or self not in _open_captures.get():
            return
        key = (event.fingerprint, event.call_site)
        with self._lock:
            self.count += 1
            if key in self._groups:
                self._groups[key] += 1
            elif len(self._groups) < self._max_groups:
                self._groups[key] = 1
                self._firsts[key] = event
            else:
                self.other += 1
            self._analysis.add(event)

    def groups(self) -> list[QueryGroup]:
        """Return the queries by shape and call site, most frequent first.

        Groups with equal counts keep the order their first query ran in.
        """
        with self._lock:
            items = list(self._groups.items())
        groups = [QueryGroup(fp, site, count) for (fp, site), count in items]
        return sorted(groups, key=lambda g: -g.count)

    def first_queries(self) -> list[QueryEvent]:
        """Return the first query of each group, in the order they ran."""
        with self._lock:
            return list(self._firsts.values())

    def n_plus_one(self, min_queries: int) -> list[NPlusOneFinding]:
        """Return the N+1 patterns of ``min_queries`` queries or more, largest first."""
        with self._lock:
            return self._analysis.n_plus_one("block", min_queries)
