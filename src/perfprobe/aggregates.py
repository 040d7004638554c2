"""Define the collector's per-metric aggregates and its snapshot types."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .events import ErrorEvent, Event, LazyLoad, MemoryRecord, QueryEvent
from .findings import DuplicateFinding, NPlusOneFinding
from .nplusone import ScopeQueries
from .querycounts import QueryCountStats
from .scope import Scope
from .stats import (
    MetricStats,
    StatsSummary,
)

#: ``findings.made`` written out where a scope closes (see ``made``).
_new = object.__new__
_set = object.__setattr__

#: The key under which names past a table's bound are counted.
OVERFLOW_KEY = "(other)"
#: Endpoints an operation keeps its time in at most (``OperationStats.endpoints``).
MAX_OPERATION_ENDPOINTS = 8


def request_endpoint(scope: Scope | None) -> str | None:
    """Return the name (``"GET /route/"``) of the request ``scope`` is part of.

    The innermost scope of kind ``request`` among ``scope`` and its
    ancestors names the endpoint; ``None`` outside any request, or for a
    request not yet named after its route.
    """
    while scope is not None:
        if scope.kind == "request":
            name = scope.name
            return name if name != "request" else None
        scope = scope.parent
    return None


def count_error(errors: Counter[str], error_type: str, max_types: int) -> str:
    """Count ``error_type`` in ``errors`` and return the key it was counted under.

    A metric fails in a few ways; code that builds exception classes on the
    fly would otherwise grow the table by one name per call. Past
    ``max_types`` distinct names (``MAX_ERROR_TYPES``), new ones share
    ``OVERFLOW_KEY``.
    """
    if error_type not in errors and len(errors) >= max_types:
        error_type = OVERFLOW_KEY
    errors[error_type] += 1
    return error_type


@dataclass
class OperationStats:
    """Aggregates of one named operation, with the tag values it was seen with."""

    stats: MetricStats
    errors: Counter[str] = field(default_factory=Counter)
    tags: dict[str, set[str]] = field(default_factory=dict)
    #: Runs and seconds inside each endpoint's requests, by the request
    #: scope's name: ``{"GET /report/": [count, total_s]}``. Filled when
    #: records are folded, never by the timer itself; the first
    #: ``MAX_OPERATION_ENDPOINTS`` endpoints only.
    endpoints: dict[str, list[float]] = field(default_factory=dict)

    def add_endpoint_time(self, endpoint: str, count: int, total_s: float) -> None:
        """Count ``count`` runs taking ``total_s`` inside requests of ``endpoint``."""
        spent = self.endpoints.get(endpoint)
        if spent is None:
            if len(self.endpoints) >= MAX_OPERATION_ENDPOINTS:
                return
            spent = self.endpoints[endpoint] = [0, 0.0]
        spent[0] += count
        spent[1] += total_s

    def endpoints_list(self) -> list[dict[str, Any]]:
        """Return the time per endpoint, most first, as JSON-ready data."""
        ordered = sorted(self.endpoints.items(), key=lambda kv: (-kv[1][1], kv[0]))
        return [
            {"endpoint": name, "count": int(count), "total_s": total_s}
            for name, (count, total_s) in ordered
        ]

    def add_tags(self, tags: dict[str, str], max_keys: int, max_values: int) -> None:
        """Remember ``tags``' values: at most ``max_keys`` keys, ``max_values`` each.

        Tags describe an operation (shop, worker, tenant): a handful of keys
        with a handful of values each. Past the bounds (``MAX_TAG_KEYS``,
        ``MAX_TAG_VALUES``), new ones are not kept.
        """
        for key, value in tags.items():
            values = self.tags.get(key)
            if values is None:
                if len(self.tags) >= max_keys:
                    continue
                values = self.tags[key] = set()
            if len(values) < max_values:
                values.add(value)

    def tags_dict(self) -> dict[str, list[str]]:
        """Return each tag key with its values, sorted."""
        return {key: sorted(values) for key, values in sorted(self.tags.items())}


#: Durations an endpoint keeps in ``EndpointStats.pending`` at most.
PENDING_DURATIONS = 64


@dataclass
class EndpointStats:
    """Aggregates of one ``(method, route)`` endpoint."""

    stats: MetricStats
    query_counts: QueryCountStats
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    query_time_s: float = 0.0
    #: Requests that ran no query, by status, counted by the request path in
    #: one increment; ``statuses`` and ``query_counts`` do not hold them.
    quiet: Counter[int] = field(default_factory=Counter)
    #: Durations of such requests not yet in ``stats``: the collector's
    #: batched fold of quiet requests appends here and adds them with one
    #: ``add_many`` per ``PENDING_DURATIONS`` (or when read).
    pending: list[float] = field(default_factory=list)

    def add(
        self, duration_s: float, query_count: int, query_time_s: float, status: int
    ) -> None:
        """Count one request: its duration, queries, query time and status."""
        if self.pending:
            self.add_pending()
        self.stats.add(duration_s)
        self.query_counts.add(query_count)
        self.query_time_s += query_time_s
        self.statuses[status] += 1

    def add_pending(self) -> None:
        """Add the durations in ``pending`` to ``stats``, oldest first."""
        pending = self.pending
        self.pending = []
        self.stats.add_many(pending)

    def to_dict(self) -> dict[str, Any]:
        """Return a copy for a snapshot: summaries and plain dicts."""
        if self.pending:
            self.add_pending()
        return {
            "stats": self.stats.summary(),
            "query_counts": self.query_counts.summary(
                without_queries=sum(self.quiet.values())
            ),
            "statuses": dict(self.statuses + self.quiet),
            "errors": dict(self.errors),
            "query_time_s": self.query_time_s,
        }


@dataclass
class OpenScope:
    """Running counts and query analysis of a scope that has not closed."""

    scope: Scope
    queries: ScopeQueries
    query_count: int = 0
    query_time_s: float = 0.0
    operation_count: int = 0
    request_count: int = 0
    #: Errors by type (``count_error``); ``None`` until the first: an empty
    #: ``Counter`` costs about 1 µs to make, once per request scope with
    #: queries, and nearly every one closes without an error.
    errors: Counter[str] | None = None

    def close(
        self,
        duration_s: float,
        n_plus_one_min: int,
        duplicate_min: int,
        keep_groups: bool = False,
    ) -> ScopeSummary:
        """Analyse the scope's queries and return its summary.

        ``keep_groups`` keeps the scope's query shapes in the summary's
        ``query_groups`` when it has an N+1 finding, for the N+1 console log
        (``Collector.keep_query_groups``).
        """
        scope = self.scope
        # Scope.path, less its call for a scope without parent (a request's).
        path = scope.name if scope.parent is None else scope.path
        queries = self.queries
        n_plus_one = tuple(queries.n_plus_one(path, n_plus_one_min))
        # ScopeQueries.duplicates' own first test, without its call: a
        # scope that repeated no statement has none to report.
        duplicates = (
            ()
            if duplicate_min > 1 and not queries._promoted
            else tuple(queries.duplicates(path, duplicate_min, n_plus_one))
        )
        errors = self.errors
        # made(), written out: once per scope's close.
        summary: ScopeSummary = _new(ScopeSummary)
        _set(
            summary,
            "__dict__",
            {
                "id": scope.id,
                "name": scope.name,
                "kind": scope.kind,
                "path": path,
                "started_at": scope.started_at,
                "duration_s": duration_s,
                "query_count": self.query_count,
                "query_time_s": self.query_time_s,
                "operation_count": self.operation_count,
                "request_count": self.request_count,
                "errors": dict(errors) if errors is not None else {},
                "n_plus_one": n_plus_one,
                "duplicates": duplicates,
                "analysis_truncated": queries.truncated,
                "query_groups": (
                    queries.shapes() if keep_groups and n_plus_one else ()
                ),
            },
        )
        return summary


@dataclass(frozen=True)
class ScopeSummary:
    """What one closed scope did: counts, time, errors and query findings."""

    id: int
    name: str
    kind: str
    path: str
    started_at: float
    duration_s: float
    query_count: int
    query_time_s: float
    operation_count: int
    request_count: int
    errors: dict[str, int]
    n_plus_one: tuple[NPlusOneFinding, ...]
    duplicates: tuple[DuplicateFinding, ...]
    analysis_truncated: bool
    #: Each query shape's call site, fingerprint and lazy load, in the
    #: order first run; kept only for the N+1 console log, and only in a scope
    #: with an N+1 finding (the queryset that loaded its rows is among them).
    query_groups: tuple[tuple[str | None, str, LazyLoad | None], ...] = ()


@dataclass(frozen=True)
class CollectorSnapshot:
    """A consistent copy of the collector's state, taken under its lock."""

    time_scale: float
    operations: dict[str, tuple[StatsSummary, dict[str, int]]]
    operation_tags: dict[str, dict[str, list[str]]]
    #: Each operation's time per endpoint (``OperationStats.endpoints_list``).
    operation_endpoints: dict[str, list[dict[str, Any]]]
    endpoints: dict[tuple[str, str], dict[str, Any]]
    queries: dict[str, dict[str, Any]]
    query_total: StatsSummary | None
    slow_query_count: int
    #: Queries recorded while no scope, or only scopes already closed, held
    #: them: a thread given no scope, or a worker that outlived its scope.
    queries_outside_scopes: int
    slowest_queries: list[QueryEvent]
    memory: list[MemoryRecord]
    errors: list[ErrorEvent]
    error_counts: dict[tuple[str, str, str], int]
    scopes: list[ScopeSummary]
    #: N+1 and duplicate findings merged over every scope closed since reset.
    n_plus_one_totals: list[dict[str, Any]]
    duplicate_totals: list[dict[str, Any]]
    scopes_closed: int
    recent_events: list[Event]
    dropped_metrics: int
    #: Requests kept out of the data, by reason (see ``perfprobe.sampling``).
    skipped_requests: dict[str, int] = field(default_factory=dict)
