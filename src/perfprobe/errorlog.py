"""Keep the collector's recent errors and a bounded count of each error group."""

from __future__ import annotations

from collections import Counter, deque

from .aggregates import OpenScope, count_error
from .conf import PerfprobeSettings
from .events import ErrorEvent, OperationEvent, QueryEvent, RequestEvent


class ErrorLog:
    """Hold the last errors and a count per ``(source, name, error type)``.

    At most ``RECENT_EVENTS_SIZE`` errors are kept and ``MAX_METRICS`` groups
    counted; errors of further groups are kept but not counted. Each error
    is also counted in the open scopes that held it, at most
    ``MAX_ERROR_TYPES`` types per scope. Not thread-safe: the collector calls
    it with its lock held.
    """

    def __init__(self, conf: PerfprobeSettings) -> None:
        self._max_groups = conf.MAX_METRICS
        self._max_error_types = conf.MAX_ERROR_TYPES
        self.recent: deque[ErrorEvent] = deque(maxlen=conf.RECENT_EVENTS_SIZE)
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def add_failure(
        self,
        source: str,
        name: str,
        event: OperationEvent | QueryEvent | RequestEvent,
        error_type: str,
        counted_as: str,
        lineage: list[OpenScope],
        detail: str | None = None,
    ) -> None:
        """Add the error of the failed ``event``, counted as ``counted_as``.

        ``counted_as`` is the key the metric's own error table counted
        ``error_type`` under; ``lineage`` lists the open scopes that held it.
        """
        self.add(
            ErrorEvent(
                source=source,
                name=name,
                error_type=error_type,
                started_at=event.started_at,
                scope=event.scope,
                duration_s=event.duration_s,
                detail=detail,
                raised_at=getattr(event, "raised_at", None),
            ),
            lineage,
            counted_as,
        )

    def add(
        self,
        event: ErrorEvent,
        lineage: list[OpenScope],
        counted_as: str | None = None,
    ) -> None:
        """Keep ``event`` and count it as ``counted_as``, or else as its type."""
        # The recent event keeps its true type; counts use the metric's
        # bounded name, so they agree with the metric's own error table.
        self.recent.append(event)
        error_key = counted_as or event.error_type
        key = (event.source, event.name, error_key)
        if key in self.counts or len(self.counts) < self._max_groups:
            self.counts[key] += 1
        for state in lineage:
            errors = state.errors
            if errors is None:
                errors = state.errors = Counter()
            count_error(errors, error_key, self._max_error_types)
