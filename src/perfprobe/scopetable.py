"""Keep the collector's open scopes, recent scope summaries and merged findings."""

from __future__ import annotations

from collections import deque

from .aggregates import OpenScope, ScopeSummary
from .conf import PerfprobeSettings
from .nplusone import FindingTotals, ScopeQueries
from .scope import Scope


class ScopeTable:
    """Track open scopes' counts and keep what closed scopes found.

    At most ``MAX_SCOPE_HISTORY`` summaries are kept; their N+1 and duplicate
    findings are merged over every closed scope, at most ``MAX_FINGERPRINTS``
    of each. Not thread-safe: the collector calls it with its lock held.
    """

    def __init__(self, conf: PerfprobeSettings) -> None:
        self._open: dict[int, OpenScope] = {}
        self.reset(conf)

    def reset(self, conf: PerfprobeSettings) -> None:
        """Forget closed scopes and findings; open scopes keep running, empty."""
        self._max_query_groups = conf.MAX_QUERY_GROUPS_PER_SCOPE
        # Counts go with the analysis, so that a summary's query count
        # and its N+1 findings describe the same queries.
        self._open = {
            scope_id: OpenScope(state.scope, ScopeQueries(self._max_query_groups))
            for scope_id, state in self._open.items()
        }
        self.history: deque[ScopeSummary] = deque(maxlen=conf.MAX_SCOPE_HISTORY)
        self.closed_count = 0
        # Findings outlive the scope history: a view's N+1 seen in a
        # million requests is one merged finding with its true counts.
        self.n_plus_one_totals = FindingTotals(conf.MAX_FINGERPRINTS)
        self.duplicate_totals = FindingTotals(conf.MAX_FINGERPRINTS)

    def open(self, scope: Scope) -> None:
        """Start counting for ``scope`` with an empty query analysis."""
        self._open[scope.id] = OpenScope(scope, ScopeQueries(self._max_query_groups))

    def pop(self, scope: Scope) -> OpenScope | None:
        """Stop tracking ``scope``; return its state, or ``None`` if not open."""
        return self._open.pop(scope.id, None)

    def lineage(self, scope: Scope | None) -> list[OpenScope]:
        """Return the states of ``scope`` and its open ancestors, innermost first."""
        if scope is None:
            return []
        if scope.parent is None:
            # A request scope has no parent: spare it the chain and the
            # comprehension on each of its queries.
            state = self._open.get(scope.id)
            return [state] if state is not None else []
        return [self._open[s.id] for s in scope.lineage() if s.id in self._open]

    def add_closed(self, summary: ScopeSummary) -> None:
        """Keep ``summary`` and merge its findings into the totals."""
        self.history.append(summary)
        self.closed_count += 1
        for finding in summary.n_plus_one:
            self.n_plus_one_totals.add_n_plus_one(finding)
        for duplicate in summary.duplicates:
            self.duplicate_totals.add_duplicate(duplicate)
