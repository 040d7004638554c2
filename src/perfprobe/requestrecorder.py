"""Record HTTP requests in the collector: endpoints, and scopes closed with them."""

from __future__ import annotations

import functools
import logging
from collections import deque
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from .aggregates import (
    PENDING_DURATIONS,
    EndpointStats,
    OpenScope,
    ScopeSummary,
    count_error,
)
from .db.callsite import forget_scope_loads
from .events import Event, RequestEvent
from .failures import log_failure
from .querycounts import QueryCountStats
from .querylog import QUERY_BATCH
from .reentry import GuardedLock, deferred_if_reentered
from .requestlog import QuietRequest, RawRequest, made_event, raw_request_event
from .scope import Scope
from .stats import MetricStats
from .threadlog import RecentItem, Record, ThreadLogs, events_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from .activity import ThreadActivity
    from .conf import PerfprobeSettings
    from .errorlog import ErrorLog
    from .listeners import ListenerList
    from .scopetable import ScopeTable

logger = logging.getLogger("perfprobe.collector")

#: Quiet requests the request path leaves for one batched fold.
REQUEST_BATCH = 128
#: Request scopes whose close may wait for one batched close (their number
#: bounds the scopes, their requests and their queries kept open).
PENDING_SCOPES = 16
#: Raw queries in the thread logs past which the waiting scopes close at a
#: request's end: below ``QUERY_BATCH``, so that the thread's own fold (which
#: would give the next request's scope state, and send it the full way)
#: seldom comes first.
PENDING_QUERIES = QUERY_BATCH * 3 // 4
#: The scope fields of a quiet request whose scope was not opened here.
_NO_SCOPE = (None, None, None)
#: What request_ended does once its lock is released (see _end_behind).
_FULL, _KEPT, _WAITS, _BEHIND = range(4)
#: Distinct endpoints in a batch up to which ``_fold_requests`` picks each
#: one's requests in its own pass.
FEW_ENDPOINTS = 8
_endpoint_key = itemgetter(0)
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
    #: Request scopes whose close waits, with their raw requests and the
    #: settings at their end, and quiet requests that ended after them:
    #: closed in order by ``close_pending``.
    _pending: list[tuple[Scope, RawRequest, PerfprobeSettings] | QuietRequest]
    _settings: Callable[[], PerfprobeSettings]
    _last_good_settings: PerfprobeSettings

    thread_logs: ThreadLogs

    if TYPE_CHECKING:

        def _add_records(self, records: list[Record]) -> None: ...

        def _add_query_logs(self) -> None: ...

    _listeners: ListenerList[Event]
    _scope_listeners: ListenerList[ScopeSummary]
    _request_listeners: ListenerList[RequestEvent]
    _finding_listeners: ListenerList[ScopeSummary]

    if TYPE_CHECKING:

        def _bounded_key(self, table: dict[Any, Any], key: Any) -> Any: ...

        def scope_closed(
            self, scope: Scope, duration_s: float
        ) -> ScopeSummary | None: ...

    @deferred_if_reentered
    def record_request(self, event: RequestEvent, scope: Scope | None) -> None:
        """Add one HTTP request; 5xx responses also count as errors."""
        if self._pending:
            # deferred_if_reentered has checked the lock is not held here.
            self.close_pending()
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
        if self._request_listeners.items:
            self._request_listeners.notify(event)

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
        lock.fold(self._fold_requests)

    def _fold_requests(self) -> None:
        # Called with the lock held. Grouped by endpoint, so that each
        # endpoint takes its batch in a few calls, in C where it can.
        waiting = self._request_log
        self._request_log = []
        keys = list(map(_endpoint_key, waiting))
        # In the order first seen, as one by one would make them.
        distinct = dict.fromkeys(keys)
        groups: dict[tuple[str, str], list[RawRequest | QuietRequest]]
        if len(distinct) <= FEW_ENDPOINTS:
            # A batch usually holds a few endpoints: one pass in C each
            # rather than a lookup and an append in Python per request.
            groups = {
                key: list(compress(waiting, map(key.__eq__, keys))) for key in distinct
            }
        else:
            groups = {}
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
        keep the raw values and make them when read. When, beyond that, the
        scope's only records are raw queries still in the thread logs, its
        close waits too (see ``close_pending``).
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
            # Read once, before the lock: the quiet branch below and a kept
            # request's event (which names the scope only if opened here).
            opened = scope.tracker is scopes
            # acquire/release rather than ``with``, which makes two bound
            # methods per request.
            lock.acquire()
            try:
                records = False
                queries = 0
                for log in self.thread_logs.logs:
                    if log.records:
                        records = True
                    if log.queries:
                        queries += len(log.queries)
                if records or queries or self._pending:
                    if (
                        not records
                        and scope.may_wait
                        and not self._activity.open_blocks
                        and not (opened and scope.id in scopes.states)
                        # A request listener hears each request at its end,
                        # never late.
                        and not self._request_listeners.items
                    ):
                        # Raw queries only (perhaps none of its own): they
                        # stay in the thread logs, and the scope closes with
                        # the others, in order (close_pending). Written out
                        # here, not in _end_behind: once per request of a
                        # view with queries.
                        if opened:
                            # The N+1 and duplicate thresholds it closes with
                            # are those of its request's end, as when it
                            # closed then: a test's override_settings may be
                            # gone by the read. Invalid settings are logged
                            # by whoever reads them next (_live_settings),
                            # not from inside the lock.
                            try:
                                conf = self._settings()
                            except Exception:
                                conf = self._last_good_settings
                            self._pending.append((scope, request, conf))
                            scope.waits_in = self
                        else:
                            self._pending.append(request[:8] + _NO_SCOPE)
                        outcome = _WAITS
                    else:
                        # Records to add first, or requests waiting: in a
                        # method of its own, so a request with neither pays
                        # nothing more.
                        outcome = self._end_behind(scope, request, records)
                else:
                    # One flat tuple per request, kept by the recent events,
                    # the scope history and the endpoint log alike: each
                    # object kept past the request costs more on the clock
                    # than its making.
                    quiet: QuietRequest | None
                    if not opened:
                        # Not opened here: no summary.
                        quiet = request[:8] + _NO_SCOPE
                    elif scope.id in scopes.states:
                        quiet = None  # its queries or operations: the full path
                    else:
                        # _keep_empty, written out: once per request. The
                        # request came with its scope's fields: it is kept
                        # as it is.
                        scope.tracker = None
                        quiet = request
                        scopes.history.append(quiet)
                        scopes.closed_count += 1
                    if quiet is not None:
                        # _add_quiet, written out.
                        waiting = self._request_log
                        waiting.append(quiet)
                        if len(waiting) >= REQUEST_BATCH:
                            self._fold_requests()
                        if self._activity.open_blocks:
                            self._activity.mark_others(request[4])
                        self._recent.append(quiet)
                        outcome = _KEPT
                    else:
                        outcome = _FULL
            finally:
                lock.release()
            if lock._deferred:
                lock.run_deferred()
            if outcome == _KEPT:
                if self._request_listeners.items:
                    # Made for the listeners only: the request stays kept
                    # as its tuple, and its event is made again when read.
                    kept = request if opened else request[:8] + _NO_SCOPE
                    self._request_listeners.notify(cast(RequestEvent, made_event(kept)))
                return
            if outcome == _WAITS:
                if len(self._pending) >= PENDING_SCOPES or queries >= PENDING_QUERIES:
                    self.close_pending()
                return
            if outcome == _BEHIND:
                # The requests waiting first, then this one again.
                self.close_pending()
                self.request_ended(scope, request)
                return
        summary = self.scope_closed(scope, request[2])
        scope.summary = summary
        self.record_request(
            raw_request_event(summary.path if summary else None, request, summary),
            scope.parent,
        )

    def _end_behind(self, scope: Scope, request: RawRequest, records: bool) -> int:
        """End a request that may be quiet, with records in the thread logs.

        For a request whose close cannot wait (``request_ended`` lets those
        that can wait): return what ``request_ended`` does next: nothing
        (``_KEPT``: kept quiet), close those waiting first (``_BEHIND``), or
        the full path (``_FULL``). Called with the lock held.
        """
        if self._pending:
            return _BEHIND
        # Timer blocks still in thread logs may belong to this scope: added
        # first, they give it state and send it the full way.
        for log in self.thread_logs.logs:
            if log.queries:
                # Every thread's raw queries, then this loop's timer blocks;
                # the queries may be this scope's.
                self._add_query_logs()
            if log.records:
                self._add_records(log.take())
        scopes = self._scopes
        quiet: QuietRequest
        if scope.tracker is not scopes:
            quiet = request[:8] + _NO_SCOPE
        elif scope.id in scopes.states:
            return _FULL
        else:
            quiet = self._keep_empty(scope, request)
        self._add_quiet(quiet)
        return _KEPT

    def _keep_empty(self, scope: Scope, request: RawRequest) -> QuietRequest:
        # Called with the lock held: ScopeTable.keep_empty, written out.
        # The request holds its scope's fields (see RawRequest).
        scopes = self._scopes
        scope.tracker = None
        scopes.history.append(request)
        scopes.closed_count += 1
        return request

    def _add_quiet(self, quiet: QuietRequest, ended_now: bool = True) -> None:
        # Called with the lock held. Its endpoint's figures wait for the
        # next batch. A request whose close waited ended when no memory
        # block was open (request_ended): the blocks open at its close
        # opened after it, and are not marked for it.
        waiting = self._request_log
        waiting.append(quiet)
        if len(waiting) >= REQUEST_BATCH:
            self._fold_requests()
        if ended_now and self._activity.open_blocks:
            self._activity.mark_others(quiet[4])
        self._recent.append(quiet)

    def close_pending(self) -> None:
        """Close the request scopes that wait, in the order their requests ended.

        A request whose scope holds only raw queries still in the thread
        logs (and would otherwise be quiet) leaves its scope open and waiting
        rather than folding its queries and closing it at once: folded
        together, a batch of such requests costs fewer calls, and runs on
        objects still warm from the previous one. Every reader calls this
        first (a snapshot, a listener added, a scope closed, a reset, the
        scope's ``summary``), and a request that cannot wait calls it before
        its own record, so what is read is what closing each scope at its
        request's end made, but for the order of the recent events (the
        waiting requests' queries come before their requests) and the
        splitting of the running total of query time. Called without the
        lock, like ``fold_requests``; a no-op inside it.
        """
        lock = self._lock
        if not self._pending or lock._is_owned():  # type: ignore[attr-defined]
            return
        lock.fold(self._close_pending)

    def _close_pending(self) -> None:
        # Called with the lock held.
        waiting = self._pending
        if not waiting:
            return
        self._pending = []
        # The waiting scopes' queries, and any other thread's.
        self._add_query_logs()
        scopes = self._scopes
        states = scopes.states
        # The closed scopes' lazy loads leave the memo in one scan, after.
        closed: set[int] = set()
        for item in waiting:
            scope: Scope | None = None
            try:
                if len(item) != 3:
                    self._add_quiet(item, ended_now=False)
                    continue
                scope, request, conf = item
                state = states.pop(scope.id, None)
                if state is not None:
                    closed.add(scope.id)
                    self._close_waiting(scope, request, conf, state)
                elif scope.tracker is scopes:
                    self._add_quiet(self._keep_empty(scope, request), ended_now=False)
            except Exception:
                # The request is lost, not the batch, and never raised to
                # the reader or the request that closed the batch.
                if scope is not None:
                    scope.tracker = None
                    states.pop(scope.id, None)
                log_failure(
                    logger, "close-pending", "perfprobe failed to close a request scope"
                )
            finally:
                # Last: a reader of its summary in another thread waits for
                # the lock while this is set (RequestScope.summary).
                if scope is not None:
                    scope.waits_in = None
        if closed:
            try:
                forget_scope_loads(closed)
            except Exception:
                log_failure(
                    logger, "close-pending", "perfprobe failed to close a request scope"
                )

    def _close_waiting(
        self,
        scope: Scope,
        request: RawRequest,
        conf: PerfprobeSettings,
        state: OpenScope,
    ) -> None:
        # Called with the lock held, with the scope's state, taken from the
        # open scopes: scope_closed and record_request, but for what a
        # request that may wait cannot have (listeners, an error, a parent
        # scope, open memory blocks). Once per request of a view with
        # queries: the calls of _endpoint and EndpointStats.add are written
        # out.
        scope.tracker = None
        duration_s = request[2]
        summary = state.close(
            duration_s, conf.N_PLUS_ONE_MIN_QUERIES, conf.DUPLICATE_MIN_QUERIES
        )
        self._scopes.add_closed(summary, forget_loads=False)
        scope.summary = summary
        if self._finding_listeners.items and (summary.n_plus_one or summary.duplicates):
            # After the lock is released, as every listener is called.
            self._lock._deferred.append(
                functools.partial(self._finding_listeners.notify, summary)
            )
        if self._request_log:
            self._fold_requests()
        key = request[0]
        ep = self._endpoints.get(key)
        if ep is None:
            ep = self._endpoint(key)
        query_count = state.query_count
        query_time_s = state.query_time_s
        if ep.pending:
            ep.add_pending()
        ep.stats.add(duration_s)
        ep.query_counts.add(query_count)
        ep.query_time_s += query_time_s
        ep.statuses[request[1]] += 1
        # Made an event when read, as a quiet request is (made_event).
        self._recent.append((request, query_count, query_time_s, summary.path))

    def _recent_events(self) -> list[Event]:
        # Called with the lock held; see request_ended for the quiet tuples.
        return events_of(self._recent)
