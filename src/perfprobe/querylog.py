"""Fold the raw queries the recorder leaves in thread logs into the aggregates.

On the common path (a query that ran, with nothing listening, tracing or
logging it, no memory block open and its parameters not stored) the query
recorder does not take the collector's lock: it appends a raw record
(``perfprobe.events.RAW_*``) to its thread's log and returns. The records
are folded in under the lock, all of them before every read, before a scope
closes or is discarded, and by the thread itself once its log holds
``QUERY_BATCH``. The fold groups them by SQL text, scope and call site
(``perfprobe.querygroups``), so that the fingerprint, the per-fingerprint
aggregates and the scope's N+1 and duplicate grouping are worked out once
per group rather than once per query; the result is that of adding each
query in turn. The folded records wait in the recent events, which keep
those they let go of spare for the recorder (``perfprobe.rawrecords``).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .aggregates import count_error
from .db.fingerprint import STANDARD_STRING_VENDORS, fingerprint
from .events import (
    RAW_ALIAS,
    RAW_DURATION_S,
    RAW_VENDOR,
    Event,
    QueryEvent,
    RawQuery,
)
from .failures import log_failure
from .nplusone import new_run_parts
from .querygroups import (
    group_records,
    load_fold_groups,
    load_group_queries,
    load_settle_group,
    settle_records,
)
from .querytable import StatsRuns
from .rawrecords import load_recycle_records, made_query_events
from .reentry import GuardedLock, deferred_if_reentered
from .scope import Scope

if TYPE_CHECKING:
    from .activity import ThreadActivity
    from .aggregates import OpenScope
    from .conf import PerfprobeSettings
    from .errorlog import ErrorLog
    from .listeners import ListenerList
    from .querytable import QueryTable
    from .scopetable import ScopeTable
    from .threadlog import RecentItem, ThreadLog, ThreadLogs

logger = logging.getLogger("perfprobe.collector")

#: Raw queries a thread keeps before folding them in itself.
QUERY_BATCH = 256
#: Spare raw query records kept at most for the recorder to fill again.
SPARE_RECORDS = 4 * QUERY_BATCH

_duration = itemgetter(RAW_DURATION_S)
_alias = itemgetter(RAW_ALIAS)
#: Database calls as a query batch listener receives them: each call's
#: database alias and its duration in seconds, in the same order.
QueryBatch = tuple[list[str], list[float]]
_isfinite = math.isfinite

_group_queries = load_group_queries()
_settle_group = load_settle_group()
_fold_groups = load_fold_groups()
_recycle_records = load_recycle_records()


def query_batch(records: list[RawQuery]) -> QueryBatch:
    """Return raw query records as a query batch listener receives them."""
    return list(map(_alias, records)), list(map(_duration, records))


class QueryRecords:
    """The collector's part in queries: raw ones folded in, others added at once.

    Mixed into ``Collector``, whose state it uses under the same lock and
    whose rules (see ``Collector``) hold here too.
    """

    _lock: GuardedLock
    _queries: QueryTable
    _scopes: ScopeTable
    _recent: deque[RecentItem]
    _errors: ErrorLog
    _activity: ThreadActivity
    _conf: PerfprobeSettings
    _listeners: ListenerList[Event]
    _query_batch_listeners: ListenerList[QueryBatch]
    thread_logs: ThreadLogs
    time_scale: float
    _pending: list[Any]

    if TYPE_CHECKING:

        def _live_settings(self) -> PerfprobeSettings: ...

        def close_pending(self) -> None: ...

    def record_query(
        self,
        event: QueryEvent,
        scope: Scope | None,
        conf: PerfprobeSettings | None = None,
    ) -> None:
        """Add one database call and feed it to the scope's N+1 analysis.

        ``conf`` is the settings the caller has just read (the query
        recorder has); without it they are read here.
        """
        lock = self._lock
        # deferred_if_reentered, inlined: a decorator's frame would cost as
        # much as this whole method's bookkeeping, once per query.
        if lock._is_owned():  # type: ignore[attr-defined]
            lock._deferred.append(partial(self.record_query, event, scope, conf))
            return
        if conf is None:
            # Thresholds are read live (cached by perfprobe.conf), so that a
            # settings change is seen without a reset; sizes change only on
            # reset.
            conf = self._live_settings()
        if self._pending:
            # Ended requests first, so recent events keep their order.
            self.close_pending()
        try:
            slow_query_s = conf.SLOW_QUERY_SECONDS * self.time_scale
            with lock:
                # This thread's raw queries first, so that the order of
                # its queries is kept (first sightings, recent events).
                own = getattr(self.thread_logs.local, "log", None)
                if own is not None and own.queries:
                    self._fold_safely(own.take_queries())
                # A request's scope (no parent) already open: its state found
                # without lineage() and _state(), two calls a query.
                state = (
                    self._scopes.states.get(scope.id)
                    if scope is not None and scope.parent is None
                    else None
                )
                lineage = [state] if state is not None else self._scopes.lineage(scope)
                q = self._queries.add(event, slow_query_s, in_scope=bool(lineage))
                if lineage:
                    duration_s = event.duration_s
                    for state in lineage:
                        state.query_count += 1
                        state.query_time_s += duration_s
                    if lineage[0].scope is scope:
                        lineage[0].queries.add(event)
                if event.error_type is not None:
                    self._errors.add_failure(
                        "query",
                        event.fingerprint,
                        event,
                        event.error_type,
                        count_error(
                            q.errors, event.error_type, self._conf.MAX_ERROR_TYPES
                        ),
                        lineage,
                        detail=event.call_site,
                    )
                if self._activity.open_blocks:
                    self._activity.mark_others(event.thread_id)
                self._recent.append(event)
        finally:
            if lock._deferred:
                lock.run_deferred()
        if self._listeners.items:
            self._listeners.notify(event)
        if self._query_batch_listeners.items:
            with lock:
                self._query_batch_listeners.notify(([event.alias], [event.duration_s]))

    def register_thread(self) -> ThreadLog:
        """Return the calling thread's log, made and listed now if it has none.

        The raw queries of finished threads are folded in first, so that
        their logs can be released (``TimerRecords.register_thread``).
        """
        # Waiting request scopes of a finished thread close with the rest.
        self.close_pending()
        with self._lock:
            for log in self.thread_logs.logs:
                if log.queries and not log.thread_alive:
                    self._fold_safely(log.take_queries())
        return super().register_thread()  # type: ignore[misc,no-any-return]

    def fold_queries(self) -> None:
        """Fold every thread's raw queries in; readers call it before their read.

        Called without the lock, like ``fold_requests``: a finaliser that
        the fold's allocations run, and that records while the lock is
        held, is deferred until the lock is released and so lands before
        the read that follows.
        """
        lock = self._lock
        if lock._is_owned():  # type: ignore[attr-defined]
            return
        # Their queries are among those folded: the waiting scopes close.
        self.close_pending()
        if not any(log.queries for log in self.thread_logs.logs):
            return
        lock.fold(self._add_query_logs)

    @deferred_if_reentered
    def fold_thread_queries(self, log: ThreadLog) -> None:
        """Fold the raw queries of ``log`` (the calling thread's) in.

        With request scopes waiting, every thread's are folded and those
        scopes closed (``close_pending``): their batch is full.
        """
        if self._pending:
            self.close_pending()
            return
        with self._lock:
            # Another thread's read may have taken them since the recorder
            # found the batch full: an empty batch is nothing to add.
            if log.queries:
                self._fold_safely(log.take_queries())

    def _add_query_logs(self) -> None:
        """Fold every thread's raw queries in; the lock is held."""
        batch: list[RawQuery] = []
        for log in self.thread_logs.logs:
            if log.queries:
                batch += log.take_queries()
        if batch:
            self._fold_safely(batch)

    def _fold_safely(self, batch: list[RawQuery]) -> None:
        try:
            self._add_queries(batch)
        except Exception:
            # The records are lost, but the caller (a scope closing in the
            # user's request, a read) goes on.
            log_failure(logger, "fold-queries", "perfprobe failed to add queries")

    def _add_queries(self, batch: list[RawQuery]) -> None:
        """Add raw query records, oldest first per thread; the lock is held."""
        # Runs of one statement from one place (an N+1 loop) are grouped
        # in C; the groups keep the order in which each first came.
        grouped = _group_queries(batch) if _group_queries is not None else None
        groups, batch_durations = (
            grouped if grouped is not None else group_records(batch)
        )
        table = self._queries
        scopes = self._scopes
        states = scopes.states
        settle = _settle_group
        lost: list[RawQuery] = []
        # Each fingerprint's durations, added once when the groups are done:
        # a batch holds a statement's run for every scope that waited.
        runs: StatsRuns | None = {}
        # The C loop settles and adds in C: it runs only where the C
        # settling and the C common case of a scope's analysis do.
        parts = new_run_parts() if settle is not None else None
        fold = _fold_groups if parts is not None else None
        progress = [0]
        index = 0
        while index < len(groups):
            if fold is not None and parts is not None and runs is not None:
                # The common groups in C, up to the first that is not. The
                # group a failure came from is lost, then the rest go on.
                progress[0] = index
                try:
                    index = fold(
                        groups,
                        index,
                        progress,
                        fingerprint,
                        table,
                        scopes.lineage,
                        states,
                        table._shapes,
                        table._max_call_sites,
                        runs,
                        *parts,
                    )
                except Exception:
                    index = progress[0]
                    log_failure(
                        logger, "fold-queries", "perfprobe failed to add queries"
                    )
                    lost += groups[index][1]
                    index += 1
                    continue
                if index >= len(groups):
                    break
            (text, scope, call_site), records, durations, total_s = groups[index]
            index += 1
            if runs is not None and not _isfinite(total_s):
                # A NaN or an infinity (add_many raises, or adds one by one):
                # what was left is added now, and the rest as it comes.
                self._add_runs(runs)
                runs = None
            try:
                # First, so that a statement it fails on changes nothing.
                vendor = records[0][RAW_VENDOR]
                shape = fingerprint(text, vendor)
                # A request's scope (no parent) still open: its state found
                # without lineage(), the common case.
                state: OpenScope | None = None
                path: str | None = None
                if scope is not None:
                    if scope.parent is None:
                        path = scope.name
                        state = states.get(scope.id)
                    else:
                        path = scope.path
                # The scope's analysis reads the shape and the SQL hash from
                # the records too. The text's hash is cached in it by now.
                sql_hash = hash(text)
                facts = (
                    settle(records, shape, path, sql_hash)
                    if settle is not None
                    else None
                )
                if facts is None:
                    facts = settle_records(records, shape, path, sql_hash)
                alias = facts[4]
                if alias is None and vendor in STANDARD_STRING_VENDORS:
                    # The group holds several connections' queries (no one
                    # alias), which may differ in vendor: their shape takes
                    # both readings of a backslash, as an unknown vendor's.
                    shape = fingerprint(text)
                    facts = settle_records(records, shape, path, sql_hash)
                    alias = facts[4]
                table.add_records(
                    shape, call_site, records, durations, alias, runs, total_s
                )
                count = len(records)
                if state is not None:
                    state.query_count += count
                    state.query_time_s += total_s
                    if state.scope is scope:
                        state.queries.add_records(
                            shape, call_site, records, total_s, facts
                        )
                elif scope is None:
                    table.outside_scopes += count
                else:
                    lineage = scopes.lineage(scope)
                    if lineage:
                        for state in lineage:
                            state.query_count += count
                            state.query_time_s += total_s
                        if lineage[0].scope is scope:
                            lineage[0].queries.add_records(
                                shape, call_site, records, total_s, facts
                            )
                    else:
                        table.outside_scopes += count
            except Exception:
                # This statement's queries are lost, not the whole batch
                # (every thread's, at a read).
                log_failure(logger, "fold-queries", "perfprobe failed to add queries")
                lost += records
        if runs:
            self._add_runs(runs)
        if lost:
            gone = set(map(id, lost))
            batch = [record for record in batch if id(record) not in gone]
            if not batch:
                return
            batch_durations = list(map(_duration, batch))
        table.add_totals(batch, batch_durations)
        if self._query_batch_listeners.items:
            self._query_batch_listeners.notify(
                (list(map(_alias, batch)), batch_durations)
            )
        recent = self._recent
        maxlen = recent.maxlen
        # The records the batch pushes out, taken out first, some spare.
        if maxlen is not None and (over := len(recent) + len(batch) - maxlen) > 0:
            _recycle_records(recent, over, self.thread_logs.spare, SPARE_RECORDS)
        recent.extend(batch)

    def _add_runs(self, runs: StatsRuns) -> None:
        for stats, (values, sums) in runs.items():
            try:
                stats.add_runs(values, sums)
            except Exception:
                log_failure(logger, "fold-queries", "perfprobe failed to add queries")

    def _recent_events(self) -> list[Event]:
        # Called with the lock held: query records first, then the rest.
        made_query_events(self._recent, self.thread_logs.spare, SPARE_RECORDS)
        return super()._recent_events()  # type: ignore[misc,no-any-return]
