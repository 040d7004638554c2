"""Hold every measurement in thread-safe aggregates with bounded memory."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from .activity import ThreadActivity
from .aggregates import (
    OVERFLOW_KEY,
    CollectorSnapshot,
    EndpointStats,
    OperationStats,
    ScopeSummary,
    count_error,
    request_endpoint,
)
from .conf import PerfprobeSettings, get_settings
from .errorlog import ErrorLog
from .events import (
    ErrorEvent,
    Event,
    MemoryRecord,
    OperationEvent,
    QueryEvent,
    RequestEvent,
)
from .failures import log_failure
from .listeners import ListenerList
from .memoryrecords import MemoryRecords
from .pendingscopes import PendingScopes
from .querylog import QueryBatch, QueryRecords, query_batch
from .querytable import QueryTable
from .rawrecords import query_event
from .reentry import GuardedLock, deferred_if_reentered
from .requestfold import RequestFold
from .requestrecorder import RequestRecorder
from .scope import Scope
from .scopetable import ScopeTable
from .subscriptions import Subscriptions
from .threadlog import RecentItem, TimerRecords

logger = logging.getLogger("perfprobe.collector")


class Collector(
    QueryRecords,
    RequestRecorder,
    PendingScopes,
    RequestFold,
    TimerRecords,
    MemoryRecords,
    Subscriptions,
):
    """Aggregate measurements from any thread; the only shared mutable state.

    Every public method takes the one lock, so aggregates stay exact under
    concurrency. Listeners are called after the lock is released, and their
    failures are logged rather than raised. A mutating call made by a
    finaliser while its thread is inside the lock is deferred, not blocked:
    it returns ``None`` and takes effect once the lock is released.
    """

    def __init__(
        self, settings: Callable[[], PerfprobeSettings] = get_settings
    ) -> None:
        self._settings = settings
        self._lock = GuardedLock()
        self._listeners: ListenerList[Event] = ListenerList("event")
        self._scope_listeners: ListenerList[ScopeSummary] = ListenerList("scope")
        # Listeners that leave the fast paths on (see add_request_listener
        # and add_query_batch_listener): the Prometheus exporter's.
        self._request_listeners: ListenerList[RequestEvent] = ListenerList("request")
        self._finding_listeners: ListenerList[ScopeSummary] = ListenerList("finding")
        self._query_batch_listeners: ListenerList[QueryBatch] = ListenerList(
            "query batch"
        )
        #: Whether a closing scope with an N+1 keeps its query shapes in its
        #: summary (``ScopeSummary.query_groups``): set by the N+1 console log
        #: (``perfprobe.findinglog``), which names the queryset line from
        #: them; not for every scope listener (the Prometheus exporter is one
        #: in production, and would keep them for nothing in the history).
        self.keep_query_groups = False
        self.time_scale = 1.0
        # Importing perfprobe must not need configured Django settings, nor
        # valid ones (check E001 reports those): until then, start from the
        # defaults (the app's ready() resets).
        try:
            conf = settings() if django_settings.configured else PerfprobeSettings()
        except ImproperlyConfigured:
            conf = PerfprobeSettings()
        # Open scopes and open blocks outlive a reset: they still run.
        self._scopes = ScopeTable(conf)
        #: What ``scope_opened`` sets as a scope's tracker: the request
        #: middleware gives it to the request's scope as it makes it.
        self.scope_table = self._scopes
        self._activity = ThreadActivity()
        #: Each thread's finished timer blocks not yet added (see threadlog).
        self.thread_logs = self._activity.threads
        self._pending = []
        self._clear(conf)

    # -- life cycle -------------------------------------------------------

    @deferred_if_reentered
    def reset(self) -> None:
        """Forget every measurement and reread the settings.

        Open scopes and memory blocks keep running but start empty.
        """
        # Scopes whose requests ended before the reset get their summaries.
        self.close_pending()
        self._clear(self._settings())

    def _clear(self, conf: PerfprobeSettings) -> None:
        with self._lock:
            # Timer blocks that ended before the reset go with the rest.
            for log in self.thread_logs.logs:
                log.take()
                dropped = log.take_queries()
                if dropped and self._query_batch_listeners.items:
                    # Counted by the batch listeners (the Prometheus
                    # exporter, whose counters a reset never takes back)
                    # when folded: passed on now, or never.
                    self._query_batch_listeners.notify(query_batch(dropped))
            # Any still waiting (another thread's, since the close above)
            # go with the rest.
            for item in self._pending:
                if len(item) == 3:
                    item[0].waits_in = None
                    self._scopes.pop(item[0])
            self._pending = []
            self._conf = conf
            self._last_good_settings = conf
            self._operations: dict[str, OperationStats] = {}
            self._endpoints: dict[tuple[str, str], EndpointStats] = {}
            self._request_log = []
            self._queries = QueryTable(conf)
            self._memory: deque[MemoryRecord] = deque(maxlen=conf.RECENT_EVENTS_SIZE)
            self._errors = ErrorLog(conf)
            # Quiet requests and timer records too, made events when read.
            self._recent: deque[RecentItem] = deque(maxlen=conf.RECENT_EVENTS_SIZE)
            self._scopes.reset(conf)
            self._dropped_metrics = 0
            # Keyed by the few fixed reasons of perfprobe.sampling.
            self._skipped_requests: Counter[str] = Counter()

    @property
    def settings(self) -> PerfprobeSettings:
        """Return the settings this collector was last reset with."""
        return self._conf

    def _live_settings(self) -> PerfprobeSettings:
        """Return the current settings, or the last good ones if they are invalid.

        A bad ``PERFPROBE`` set at run time (``override_settings``) must not
        make the collector lose a query or leak an open scope; it is logged
        once per process.
        """
        try:
            conf = self._settings()
        except Exception:
            log_failure(
                logger,
                "settings",
                "perfprobe settings are invalid; using the last good",
            )
            return self._last_good_settings
        self._last_good_settings = conf
        return conf

    # -- helpers called with the lock held ---------------------------------

    def _bounded_key(self, table: dict[Any, Any], key: Any) -> Any:
        if key in table or len(table) < self._conf.MAX_METRICS:
            return key
        self._dropped_metrics += 1
        return OVERFLOW_KEY if isinstance(key, str) else (OVERFLOW_KEY, OVERFLOW_KEY)

    # -- recording ----------------------------------------------------------

    @deferred_if_reentered
    def record_operation(self, event: OperationEvent, scope: Scope | None) -> None:
        """Add one timed operation now, with this thread's pending records first.

        Timers use it for the blocks they cannot leave in the thread log
        (a failure, a span, a listener); ordinary blocks wait there.
        """
        if self._pending:
            # Ended requests first, so recent events keep their order.
            self.close_pending()
        with self._lock:
            # This thread's earlier blocks first, so recent events keep
            # their order within the thread.
            own = getattr(self.thread_logs.local, "log", None)
            if own is not None and own.records:
                self._add_records(own.take())
            op = self._operation(event.name, 1)
            op.stats.add(event.duration_s)
            if event.tags:
                op.add_tags(
                    event.tags, self._conf.MAX_TAG_KEYS, self._conf.MAX_TAG_VALUES
                )
            for state in self._scopes.lineage(scope):
                state.operation_count += 1
            endpoint = request_endpoint(scope)
            if endpoint is not None:
                op.add_endpoint_time(endpoint, 1, event.duration_s)
            if event.error_type is not None:
                self._errors.add_failure(
                    "operation",
                    event.name,
                    event,
                    event.error_type,
                    count_error(
                        op.errors, event.error_type, self._conf.MAX_ERROR_TYPES
                    ),
                    self._scopes.lineage(scope),
                )
            if self._activity.open_blocks:
                self._activity.mark_others(event.thread_id)
            self._recent.append(event)
        # Tested here, not in _notify: one call less per event unobserved.
        if self._listeners.items:
            self._listeners.notify(event)

    @deferred_if_reentered
    def record_skipped_request(self, reason: str) -> None:
        """Count one request kept out of the data because of ``reason``."""
        with self._lock:
            self._skipped_requests[reason] += 1

    @deferred_if_reentered
    def record_error(self, event: ErrorEvent, scope: Scope | None) -> None:
        """Add an error that no other probe recorded (e.g. a failed scenario)."""
        if self._pending:
            self.close_pending()
        with self._lock:
            self._errors.add(event, self._scopes.lineage(scope))
            self._recent.append(event)
        self._notify(event)

    # -- scopes ---------------------------------------------------------------

    def scope_opened(self, scope: Scope) -> None:
        """Start collecting per-scope counts and query analysis for ``scope``."""
        # No lock: the scope's state is made, under the lock, when first
        # needed (see ScopeTable).
        scope.tracker = self._scopes

    @deferred_if_reentered
    def scope_discarded(self, scope: Scope) -> None:
        """Forget the open ``scope`` without a summary; closing it records nothing."""
        with self._lock:
            # Its raw queries count in it, and in its open ancestors.
            self._add_query_logs()
            self._scopes.pop(scope)

    @deferred_if_reentered
    def scope_closed(self, scope: Scope, duration_s: float) -> ScopeSummary | None:
        """Finish ``scope``: analyse its queries and keep its summary."""
        if self._pending:
            # The scopes of requests that ended before it close first, in
            # the history as in the findings.
            self.close_pending()
        with self._lock:
            # Every thread's raw queries and finished blocks first: some may
            # be this scope's.
            self._add_query_logs()
            self._add_thread_logs()
            # Popped before anything that may fail, so a scope never leaks.
            state = self._scopes.pop(scope)
        if state is None:
            return None
        conf = self._live_settings()
        with self._lock:
            summary = state.close(
                duration_s,
                conf.N_PLUS_ONE_MIN_QUERIES,
                conf.DUPLICATE_MIN_QUERIES,
                self.keep_query_groups,
            )
            self._scopes.add_closed(summary)
        if self._scope_listeners.items:
            self._scope_listeners.notify(summary)
        if self._finding_listeners.items and (summary.n_plus_one or summary.duplicates):
            self._finding_listeners.notify(summary)
        return summary

    # -- reading --------------------------------------------------------------

    def snapshot(self) -> CollectorSnapshot:
        """Return a consistent copy of everything collected so far."""
        self.fold_requests()
        # Closes the waiting request scopes too: their queries are folded.
        self.fold_queries()
        with self._lock:
            # Requests other threads ended since the fold above.
            if self._pending:
                self._close_pending()
            if self._request_log:
                self._fold_requests()
            self._add_query_logs()
            self._add_thread_logs()
            operations = {
                name: (summary, dict(op.errors))
                for name, op in self._operations.items()
                if (summary := op.stats.summary()) is not None
            }
            endpoints = {key: ep.to_dict() for key, ep in self._endpoints.items()}
            return CollectorSnapshot(
                time_scale=self.time_scale,
                operations=operations,
                operation_tags={
                    name: op.tags_dict() for name, op in self._operations.items()
                },
                operation_endpoints={
                    name: op.endpoints_list()
                    for name, op in self._operations.items()
                    if op.endpoints
                },
                endpoints=endpoints,
                queries=self._queries.to_dict(),
                query_total=self._queries.total.summary(),
                slow_query_count=self._queries.slow_count,
                queries_outside_scopes=self._queries.outside_scopes,
                slowest_queries=[
                    e if isinstance(e, QueryEvent) else query_event(e)
                    for e in self._queries.slowest()
                ],
                memory=list(self._memory),
                errors=list(self._errors.recent),
                error_counts=dict(self._errors.counts),
                scopes=self._scopes.summaries(),
                n_plus_one_totals=self._scopes.n_plus_one_totals.to_list(),
                duplicate_totals=self._scopes.duplicate_totals.to_list(),
                scopes_closed=self._scopes.closed_count,
                recent_events=self._recent_events(),
                dropped_metrics=self._dropped_metrics
                + self._queries.dropped
                + self._scopes.n_plus_one_totals.dropped
                + self._scopes.duplicate_totals.dropped,
                skipped_requests=dict(self._skipped_requests),
            )
