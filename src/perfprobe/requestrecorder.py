"""Record HTTP requests in the collector: endpoints, and scopes closed with them."""

from __future__ import annotations

import functools
from collections import deque
from typing import TYPE_CHECKING, cast

from .aggregates import EndpointStats, ScopeSummary, count_error
from .events import Event, RequestEvent
from .pendingscopes import PENDING_QUERIES, PENDING_SCOPES
from .reentry import GuardedLock, deferred_if_reentered
from .requestfold import REQUEST_BATCH
from .requestlog import QuietRequest, RawRequest, made_event, raw_request_event
from .scope import Scope
from .threadlog import RecentItem, Record, ThreadLogs, events_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from .activity import ThreadActivity
    from .conf import PerfprobeSettings
    from .errorlog import ErrorLog
    from .listeners import ListenerList
    from .scopetable import ScopeTable

#: The scope fields of a quiet request whose scope was not opened here.
_NO_SCOPE = (None, None, None)
#: What request_ended does once its lock is released (see _end_behind).
_FULL, _KEPT, _WAITS, _BEHIND = range(4)


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
    #: Quiet requests waiting for their fold (see ``RequestFold``).
    _request_log: list[RawRequest | QuietRequest]
    #: Request scopes whose close waits (see ``PendingScopes``).
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

        def _fold_requests(self) -> None: ...

        def _endpoint(self, key: tuple[str, str]) -> EndpointStats: ...

        def close_pending(self) -> None: ...

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

    def _recent_events(self) -> list[Event]:
        # Called with the lock held; see request_ended for the quiet tuples.
        return events_of(self._recent)
