"""Keep the collector's open scopes, recent scope summaries and merged findings."""

from __future__ import annotations

from collections import deque
from typing import Any

from .aggregates import OpenScope, ScopeSummary
from .conf import PerfprobeSettings
from .db.callsite import forget_scope_loads
from .findings import FindingTotals
from .nplusone import ScopeQueries
from .requestlog import QuietRequest
from .scope import Scope


def empty_summary(quiet: QuietRequest) -> ScopeSummary:
    """Return the summary of a request scope in which nothing was recorded."""
    # Up to MAX_SCOPE_HISTORY of these are made per read: a frozen
    # dataclass's __init__ sets each field through object.__setattr__, one
    # dict update costs a fraction of that. ScopeSummary has no
    # __post_init__; the collector's tests compare summaries made both ways.
    summary: ScopeSummary = object.__new__(ScopeSummary)
    summary.__dict__.update(
        id=quiet[8],
        name=quiet[9],
        kind="request",
        path=quiet[9],
        started_at=quiet[10],
        duration_s=quiet[2],
        query_count=0,
        query_time_s=0.0,
        operation_count=0,
        request_count=0,
        errors={},
        n_plus_one=(),
        duplicates=(),
        analysis_truncated=False,
    )
    return summary


class ScopeTable:
    """Track open scopes' counts and keep what closed scopes found.

    Opening a scope only marks it: the collector sets ``Scope.tracker`` to
    the table, with no lock, since no other thread records into a scope
    before it is made current. Its counts and query analysis (an
    ``OpenScope``) are made the first time something is recorded in it, so
    a scope in which nothing happens, like most requests of a view that runs
    no query, never builds them. At most
    ``MAX_SCOPE_HISTORY`` summaries are kept; that of such an empty request
    scope is kept as its ``QuietRequest`` tuple (by
    ``Collector.request_ended``) and made only when read. N+1 and duplicate
    findings are merged over every closed scope, at most
    ``MAX_FINGERPRINTS`` of each. Not thread-safe: the collector calls it
    with its lock held.
    """

    def __init__(self, conf: PerfprobeSettings) -> None:
        #: The state of each open scope that has one, by scope id.
        self.states: dict[int, OpenScope] = {}
        self.reset(conf)

    def reset(self, conf: PerfprobeSettings) -> None:
        """Forget closed scopes and findings; open scopes keep running, empty."""
        self._max_query_groups = conf.MAX_QUERY_GROUPS_PER_SCOPE
        # Counts go with the analysis, so that a summary's query count
        # and its N+1 findings describe the same queries. A scope still
        # marked but without state is empty already.
        self.states = {
            scope_id: OpenScope(state.scope, ScopeQueries(self._max_query_groups))
            for scope_id, state in self.states.items()
        }
        #: Summaries, oldest first; an empty request scope's as its
        #: ``QuietRequest`` tuple, made a summary when read.
        self.history: deque[ScopeSummary | QuietRequest] = deque(
            maxlen=conf.MAX_SCOPE_HISTORY
        )
        self.closed_count = 0
        # Findings outlive the scope history: a view's N+1 seen in a
        # million requests is one merged finding with its true counts.
        self.n_plus_one_totals = FindingTotals(conf.MAX_FINGERPRINTS)
        self.duplicate_totals = FindingTotals(conf.MAX_FINGERPRINTS)

    def _state(self, scope: Scope) -> OpenScope | None:
        state = self.states.get(scope.id)
        if state is None and scope.tracker is self:
            state = self.states[scope.id] = OpenScope(
                scope, ScopeQueries(self._max_query_groups)
            )
        return state

    def pop(self, scope: Scope) -> OpenScope | None:
        """Stop tracking ``scope``; return its state, or ``None`` if not open.

        A scope open but still without state gets an empty one.
        """
        state = self._state(scope)
        if state is not None:
            del self.states[scope.id]
        scope.tracker = None
        return state

    def lineage(self, scope: Scope | None) -> list[OpenScope]:
        """Return the states of ``scope`` and its open ancestors, innermost first."""
        if scope is None:
            return []
        if scope.parent is None:
            # A request scope has no parent: spare it the chain and the
            # comprehension on each of its queries, and _state's call.
            state = self.states.get(scope.id)
            if state is None:
                if scope.tracker is not self:
                    return []
                state = self.states[scope.id] = OpenScope(
                    scope, ScopeQueries(self._max_query_groups)
                )
            return [state]
        chain = [self._state(s) for s in scope.lineage()]
        return [state for state in chain if state is not None]

    def add_closed(self, summary: ScopeSummary, forget_loads: bool = True) -> None:
        """Keep ``summary`` and merge its findings into the totals.

        Without ``forget_loads`` the caller drops the scope's lazy loads
        from the memo itself (``forget_scope_loads``), with those of the
        other scopes it closes.
        """
        self.history.append(summary)
        if forget_loads:
            forget_scope_loads((summary.id,))
        self.closed_count += 1
        for finding in summary.n_plus_one:
            self.n_plus_one_totals.add_n_plus_one(finding)
        if summary.duplicates:
            self.duplicate_totals.add_duplicates(summary.duplicates)

    def summaries(self) -> list[ScopeSummary]:
        """Return the kept summaries, oldest first, making those kept raw."""
        if any(type(item) is tuple for item in self.history):
            self.history = deque(
                (_made(item) for item in self.history), maxlen=self.history.maxlen
            )
        return list(self.history)  # type: ignore[arg-type]


def _made(item: Any) -> ScopeSummary:
    if type(item) is tuple:
        return empty_summary(item)
    return item  # type: ignore[no-any-return]
