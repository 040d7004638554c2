"""Close the request scopes whose close waited, in one batch, in request order."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from .db.callsite import forget_scope_loads
from .failures import log_failure
from .querylog import QUERY_BATCH

if TYPE_CHECKING:
    from collections import deque

    from .aggregates import EndpointStats, OpenScope, ScopeSummary
    from .conf import PerfprobeSettings
    from .listeners import ListenerList
    from .reentry import GuardedLock
    from .requestlog import QuietRequest, RawRequest
    from .scope import Scope
    from .scopetable import ScopeTable
    from .threadlog import RecentItem

logger = logging.getLogger("perfprobe.collector")

#: Request scopes whose close may wait for one batched close (their number
#: bounds the scopes, their requests and their queries kept open).
PENDING_SCOPES = 16
#: Raw queries in the thread logs past which the waiting scopes close at a
#: request's end: below ``QUERY_BATCH``, so that the thread's own fold (which
#: would give the next request's scope state, and send it the full way)
#: seldom comes first.
PENDING_QUERIES = QUERY_BATCH * 3 // 4


class PendingScopes:
    """The collector's close of the request scopes that wait.

    Mixed into ``Collector``, which sets everything declared here; the same
    lock and the same rules hold (see ``Collector``). ``request_ended``
    (``perfprobe.requestrecorder``) decides which scopes wait.
    """

    _lock: GuardedLock
    _endpoints: dict[tuple[str, str], EndpointStats]
    _scopes: ScopeTable
    _recent: deque[RecentItem]
    _request_log: list[RawRequest | QuietRequest]
    #: Request scopes whose close waits, with their raw requests and the
    #: settings at their end, and quiet requests that ended after them:
    #: closed in order by ``close_pending``.
    _pending: list[tuple[Scope, RawRequest, PerfprobeSettings] | QuietRequest]
    _finding_listeners: ListenerList[ScopeSummary]

    if TYPE_CHECKING:

        def _add_query_logs(self) -> None: ...

        def _fold_requests(self) -> None: ...

        def _endpoint(self, key: tuple[str, str]) -> EndpointStats: ...

        def _keep_empty(self, scope: Scope, request: RawRequest) -> QuietRequest: ...

        def _add_quiet(self, quiet: QuietRequest, ended_now: bool = True) -> None: ...

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
