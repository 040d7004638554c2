"""Record HTTP requests in the collector: endpoints, and scopes closed with them."""

from __future__ import annotations

import functools
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .aggregates import (
    PENDING_DURATIONS,
    EndpointStats,
    ScopeSummary,
    count_error,
)
from .events import Event, RequestEvent
from .querycounts import QueryCountStats
from .reentry import GuardedLock, deferred_if_reentered
from .requestlog import QuietRequest, RawRequest, raw_request_event
from .scope import Scope
from .stats import MetricStats
from .threadlog import RecentItem, Record, ThreadLogs, events_of

if TYPE_CHECKING:
    from .activity import ThreadActivity
    from .conf import PerfprobeSettings
    from .errorlog import ErrorLog
    from .listeners import ListenerList
    from .scopetable import ScopeTable


#: Quiet requests the request path leaves for one batched fold.
REQUEST_BATCH = 128
#: The scope fields of a quiet request whose scope was not opened here.
_NO_SCOPE = (None, None, None)
_status = itemgetter(1)
_duration = itemgetter(2)


class RequestRecorder:
    """The request methods of ``Collector``, which sets everything declared here.

    Kept apart so that the collector stays one readable module; the same
    lock and the same rules hold (see ``Collector``).
    """

    _lock: GuardedLock
    _conf: PerfprobeSettings
    _endpoints: dict[tuple[str, str], EndpointStats]
    _errors: ErrorLog
    _activity: ThreadActivity
    _scopes: ScopeTable
    _recent: deque[RecentItem]
    _dropped_metrics: int
    #: Requests with nothing in their scope, not yet in their endpoint's
    #: figures: added in batches of ``REQUEST_BATCH`` and before every read.
    _request_log: list[RawRequest | QuietRequest]

    thread_logs: ThreadLogs

    if TYPE_CHECKING:

        def _add_records(self, records: list[Record]) -> None: ...

        def _add_query_logs(self) -> None: ...

    _listeners: ListenerList[Event]
    _scope_listeners: ListenerList[ScopeSummary]

    if TYPE_CHECKING:

        def _bounded_key(self, table: dict[Any, Any], key: Any) -> Any: ...

        def scope_closed(
            self, scope: Scope, duration_s: float
        ) -> ScopeSummary | None: ...

    @deferred_if_reentered
    def record_request(self, event: RequestEvent, scope: Scope | None) -> None:
        """Add one HTTP request; 5xx responses also count as errors."""
        with self._lock:
            # The requests waiting first: endpoints are made first come.
            if self._request_log:
                self._fold_requests()
            ep = self._endpoint((event.method, event.route))
            ep.add(
                event.duration_s, event.query_count, event.query_time_s, event.status
            )
            if self._activity.open_blocks:
                self._activity.mark_others(event.thread_id)
            for state in self._scopes.lineage(scope):
                state.request_count += 1
            if event.error_type is not None or event.status >= 500:
                error_type = event.error_type or f"HTTP {event.status}"
                self._errors.add_failure(
                    "request",
                    f"{event.method} {event.route}",
                    event,
                    error_type,
                    count_error(ep.errors, error_type, self._conf.MAX_ERROR_TYPES),
                    self._scopes.lineage(scope),
                    detail=f"status {event.status}",
                )
            self._recent.append(event)
        if self._listeners.items:
            self._listeners.notify(event)

    def fold_requests(self) -> None:
        """Add the requests waiting in ``_request_log`` to their endpoints.

        Readers call it before they take the lock for their read: a
        finaliser the fold's allocations run, which records while the lock
        is held, is deferred until the lock is released, and so lands
        before the read rather than after it.
        """
        lock = self._lock
        if not self._request_log or lock._is_owned():  # type: ignore[attr-defined]
            return
        lock.acquire()
        try:
            self._fold_requests()
        finally:
            lock.release()
        if lock._deferred:
            lock.run_deferred()

    def _fold_requests(self) -> None:
        # Called with the lock held. Grouped by endpoint, so that each
        # endpoint takes its batch in a few calls, in C where it can.
        waiting = self._request_log
        self._request_log = []
        groups: dict[tuple[str, str], list[RawRequest | QuietRequest]] = {}
        for raw in waiting:
            group = groups.get(raw[0])
            if group is None:
                group = groups[raw[0]] = []
            group.append(raw)
        endpoints = self._endpoints
        for key, raws in groups.items():
            ep = endpoints.get(key)
            if ep is None:
                ep = self._endpoint(key)
                if key not in endpoints:
                    # Past MAX_METRICS: each request counts as dropped, as
                    # one by one (_endpoint counted the first).
                    self._dropped_metrics += len(raws) - 1
            # A batch's statuses are mostly one: counted in C by list.count,
            # not one Counter update (a dict lookup, an addition and a
            # store) per request. The others keep their first-seen order.
            statuses = list(map(_status, raws))
            first = statuses[0]
            same = statuses.count(first)
            quiet = ep.quiet
            quiet[first] += same
            if same < len(statuses):
                quiet.update([status for status in statuses if status != first])
            pending = ep.pending
            pending.extend(map(_duration, raws))
            if len(pending) >= PENDING_DURATIONS:
                ep.add_pending()

    def _endpoint(self, key: tuple[str, str]) -> EndpointStats:
        # Called with the lock held.
        ep = self._endpoints.get(key)
        if ep is None:
            key = self._bounded_key(self._endpoints, key)
            ep = self._endpoints.get(key)
            if ep is None:
                limit = self._conf.EXACT_PERCENTILE_LIMIT
                ep = self._endpoints[key] = EndpointStats(
                    MetricStats(limit), QueryCountStats(limit)
                )
        return ep

    def request_ended(self, scope: Scope, request: RawRequest) -> None:
        """Close a request's ``scope`` and record the request, in one lock.

        ``request`` holds the raw values (see ``perfprobe.requestlog``).
        When nothing was recorded in the scope, nothing listens, the
        request did not fail and is not nested in another scope, no summary
        and no event is made now: the recent events and the scope history
        keep the raw values and make them when read.
        Otherwise this is ``scope_closed`` followed by ``record_request``.
        """
        lock = self._lock
        # deferred_if_reentered, inlined: it costs a frame per request.
        if lock._is_owned():  # type: ignore[attr-defined]
            lock._deferred.append(functools.partial(self.request_ended, scope, request))
            return
        if (
            request[6] is None  # error_type
            and request[1] < 500  # status
            and scope.parent is None
            and not self._listeners.items
            and not self._scope_listeners.items
        ):
            scopes = self._scopes
            # acquire/release rather than ``with``, which makes two bound
            # methods per request.
            lock.acquire()
            try:
                # Timer blocks still in thread logs may belong to this scope:
                # added first, they give it state and send it the full way.
                # _add_thread_logs written out: a frame saved per request.
                for log in self.thread_logs.logs:
                    if log.queries:
                        # Every thread's raw queries, then this loop's
                        # timer blocks; the queries may be this scope's.
                        self._add_query_logs()
                    if log.records:
                        self._add_records(log.take())
                # One flat tuple per request, kept by the recent events, the
                # scope history and the endpoint log alike: each object kept
                # past the request costs more on the clock than its making.
                quiet: QuietRequest | None
                if scope.tracker is not scopes:
                    # Not opened here: no summary.
                    quiet = request + _NO_SCOPE
                elif scope.id in scopes.states:
                    quiet = None  # its queries or operations need the full path
                else:
                    # ScopeTable.keep_empty, written out: once per request.
                    scope.tracker = None
                    # A concatenation: unpacking into a display builds a list.
                    opened = (scope.id, scope.name, scope.started_at)
                    quiet = request + opened
                    scopes.history.append(quiet)
                    scopes.closed_count += 1
                if quiet is not None:
                    # Its endpoint's figures wait for the next batch.
                    waiting = self._request_log
                    waiting.append(quiet)
                    if len(waiting) >= REQUEST_BATCH:
                        self._fold_requests()
                    if self._activity.open_blocks:
                        self._activity.mark_others(request[4])
                    self._recent.append(quiet)
            finally:
                lock.release()
            if lock._deferred:
                lock.run_deferred()
            if quiet is not None:
                return
        summary = self.scope_closed(scope, request[2])
        scope.summary = summary
        self.record_request(
            raw_request_event(summary.path if summary else None, request, summary),
            scope.parent,
        )

    def _recent_events(self) -> list[Event]:
        # Called with the lock held; see request_ended for the quiet tuples.
        return events_of(self._recent)
