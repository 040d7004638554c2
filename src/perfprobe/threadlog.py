"""Keep each thread's finished timer blocks until the collector adds them up.

A timer block that ends normally is not added to the aggregates at once: its
thread appends a raw record to a list of its own, without a lock, and the
records are added under the collector's lock in batches (``BATCH_SIZE`` at a
time by the thread itself, and all of them before anything is read). The
thread also counts its running timers here, for the memory blocks that must
know whether other threads are at work.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .aggregates import OVERFLOW_KEY, OperationStats, request_endpoint
from .events import Event, OperationEvent
from .reentry import GuardedLock, deferred_if_reentered
from .requestlog import ClosedRequest, QuietRequest, made_event
from .scope import Scope
from .sketch import load_fold
from .stats import MetricStats

if TYPE_CHECKING:
    from .activity import ThreadActivity
    from .aggregates import OpenScope
    from .conf import PerfprobeSettings
    from .events import MemoryRecord
    from .scope import Scope
    from .scopetable import ScopeTable

#: Records a thread keeps before adding them to the aggregates itself.
BATCH_SIZE = 256


def _load_split_records() -> (
    Callable[[list[Any]], tuple[dict[str, list[float]], list[list[Any]]] | None] | None
):
    """Return the C ``split_records`` where built and not turned off."""
    found: Callable[[list[Any]], Any] | None = load_fold("split_records")
    return found


_split_records = _load_split_records()

#: A finished block: ``[name, duration_s, started_at, scope, tags, log]``.
#: ``scope`` is the ``Scope`` until the record is added, then its path;
#: ``tags`` is ``None`` or a copy of the timer's tags; ``log`` is the
#: ``ThreadLog`` of the thread that ended the block. A list, so that the
#: scope can be swapped for its path in place; a block with neither scope
#: nor tags (nothing to swap) is the same six items as a tuple, one
#: allocation instead of two. A request's raw pair is a tuple of two.
Record = list[Any] | tuple[Any, ...]
RECORD_LENGTH = 6
#: What the collector's bounded buffer of recent events holds: events, and
#: raw timer records and requests (quiet, or closed after waiting) made
#: events only when read.
RecentItem = Event | Record | QuietRequest | ClosedRequest


class _Alive:
    """Held only by the thread's local storage: it dies with the thread."""

    __slots__ = ("__weakref__",)


class ThreadLog:
    """One thread's unadded records and its count of running timers.

    Only the owning thread appends to ``records`` and changes ``busy``;
    readers take records out under the collector's lock with two list
    operations that are each atomic, so an append is never lost. A block
    that ends in another thread (a generator resumed there) counts in
    ``ended_elsewhere``, changed under the lock only.
    """

    __slots__ = (
        "_alive",
        "busy",
        "ended_elsewhere",
        "open_blocks",
        "queries",
        "records",
        "spare",
        "thread_id",
        "thread_name",
    )

    def __init__(
        self,
        thread: threading.Thread,
        alive: _Alive,
        open_blocks: list[MemoryRecord],
        spare: list[list[Any]] | None = None,
    ) -> None:
        self.records: list[Record] = []
        #: Raw query records of this thread (see ``perfprobe.querylog``),
        #: appended and taken the same way as ``records``.
        self.queries: list[list[Any]] = []
        self.busy = 0
        self.ended_elsewhere = 0
        self.thread_id = thread.ident or 0
        self.thread_name = thread.name
        #: The collector's open memory blocks (the same list), tested without
        #: the lock: a timer marks them only when there are any.
        self.open_blocks = open_blocks
        #: Raw query records the recent events let go of, held by nothing
        #: else, for the recorder to fill again (``perfprobe.rawrecords``): the
        #: collector's list, shared by every thread's log.
        self.spare: list[list[Any]] = [] if spare is None else spare
        self._alive = weakref.ref(alive)

    @property
    def running(self) -> int:
        """Return how many timers started in this thread are still running."""
        return self.busy - self.ended_elsewhere

    @property
    def thread_alive(self) -> bool:
        """Return whether the owning thread is still running."""
        return self._alive() is not None

    def take(self) -> list[Record]:
        """Remove and return the records appended so far, oldest first."""
        records = self.records
        count = len(records)
        # Slicing and deleting a slice are each one atomic list operation;
        # records the owner appends meanwhile stay, after the taken ones.
        taken = records[:count]
        del records[:count]
        return taken

    def take_queries(self) -> list[list[Any]]:
        """Remove and return the raw query records so far, oldest first."""
        queries = self.queries
        count = len(queries)
        taken = queries[:count]
        del queries[:count]
        return taken


class ThreadLogs:
    """The thread logs of one collector, each reachable from its own thread.

    ``local.log`` is the calling thread's log (``AttributeError`` before its
    first timer). ``register`` and ``prune`` change the list of logs and are
    called with the collector's lock held.
    """

    def __init__(self, open_blocks: list[MemoryRecord]) -> None:
        self.local = threading.local()
        self.logs: list[ThreadLog] = []
        self._open_blocks = open_blocks
        #: Spare raw query records, see ``ThreadLog.spare``.
        self.spare: list[list[Any]] = []

    def register(self) -> ThreadLog:
        """Return the calling thread's log, made now if it has none."""
        try:
            log: ThreadLog = self.local.log
            return log
        except AttributeError:
            pass
        alive = _Alive()
        log = ThreadLog(
            threading.current_thread(), alive, self._open_blocks, self.spare
        )
        self.logs.append(log)
        self.local.alive = alive
        self.local.log = log
        return log

    def prune(self) -> None:
        """Forget the logs of finished threads with no records and no timer open."""
        finished = [
            x
            for x in self.logs
            if not x.records and not x.queries and x.running <= 0 and not x.thread_alive
        ]
        for log in finished:
            # Removal by identity, so a log registered meanwhile (a finaliser
            # in this thread) is never dropped with the rest.
            self.logs.remove(log)


def to_event(record: Record) -> OperationEvent:
    """Return the ``OperationEvent`` of a record already added (scope as a path)."""
    name, duration_s, started_at, path, tags, log = record
    return OperationEvent(
        name=name,
        duration_s=duration_s,
        started_at=started_at,
        thread_id=log.thread_id,
        thread_name=log.thread_name,
        scope=path,
        tags=tags if tags is not None else {},
    )


def split_records(
    records: list[Record],
) -> tuple[dict[str, list[float]], list[list[Any]]]:
    """Return the durations per name and the records with a scope or tags.

    Names are in the order first seen, the records (lists, see ``Record``)
    oldest first. The definition of ``_fold.split_records`` in C, and its
    fallback.
    """
    durations: dict[str, list[float]] = {}
    special: list[list[Any]] = []
    name: str | None = None
    values: list[float] = []
    for record in records:
        # Records come in runs of one name (a loop of blocks, one timer's
        # name object): its list is looked up once per run, not per record.
        if record[0] is not name:
            name = record[0]
            found = durations.get(name)
            if found is None:
                found = durations[name] = []
            values = found
        values.append(record[1])
        if record[3] is not None or record[4] is not None:
            special.append(cast(list[Any], record))
    return durations, special


def add_records(
    records: list[Record],
    operation: Callable[[str, int], OperationStats],
    lineage: Callable[[Scope], list[OpenScope]],
    tag_limits: tuple[int, int],
) -> None:
    """Add records to their operations' aggregates and their open scopes' counts.

    ``operation(name, n)`` returns the aggregates ``n`` measurements of
    ``name`` go to; ``lineage(scope)`` the open scopes a block of ``scope``
    counts in. Each record's scope becomes its path. The collector calls
    this with its lock held.
    """
    split = _split_records(records) if _split_records is not None else None
    durations, special = split if split is not None else split_records(records)
    # Names in the order they first came, as one by one would make them.
    for name, values in durations.items():
        operation(name, len(values)).stats.add_many(values)
    paths: dict[Scope, str] = {}
    # Time per (name, endpoint): records come in runs of one name and one
    # scope (a loop of blocks in one request), so a run is summed in locals
    # and added when it ends; the endpoint is looked up when the scope
    # changes, not per record.
    in_endpoints: list[tuple[str, str, int, float]] = []
    last_scope: Scope | None = None
    endpoint: str | None = None
    # "" is no name or endpoint: a run starts at the first record.
    run_name = run_endpoint = ""
    run_count = 0
    run_total = 0.0
    path = ""
    states: list[OpenScope] = []
    for record in special:
        if record[4] is not None:
            operation(record[0], 0).add_tags(record[4], *tag_limits)
        scope = record[3]
        if scope is None:
            continue
        if scope is not last_scope:
            last_scope = scope
            found = paths.get(scope)
            if found is None:
                found = paths[scope] = scope.path
            path = found
            endpoint = request_endpoint(scope)
            # The open scopes do not change while the lock is held.
            states = lineage(scope)
        for state in states:
            state.operation_count += 1
        if endpoint is not None:
            if record[0] is not run_name or endpoint is not run_endpoint:
                if run_count:
                    in_endpoints.append((run_name, run_endpoint, run_count, run_total))
                run_name, run_endpoint = record[0], endpoint
                run_count, run_total = 0, 0.0
            run_count += 1
            run_total += record[1]
        # Recent events keep the path, not the scope and the summary it
        # will hold.
        record[3] = path
    if run_count:
        in_endpoints.append((run_name, run_endpoint, run_count, run_total))
    for name, where, count, total_s in in_endpoints:
        operation(name, 0).add_endpoint_time(where, count, total_s)


def events_of(recent: deque[RecentItem]) -> list[Event]:
    """Return the recent events, turning raw items into events in place."""
    for index in range(len(recent)):
        item = recent[index]
        # Made once: later snapshots return the same event object.
        if type(item) is list:
            recent[index] = to_event(item)
        elif type(item) is tuple:
            recent[index] = (
                to_event(item) if len(item) == RECORD_LENGTH else made_event(item)
            )
    return cast(list[Event], list(recent))


class TimerRecords:
    """The collector's part in timer records: thread logs in, aggregates out.

    Mixed into ``Collector``, whose state it uses under the same lock; kept
    here so that the collector's own module stays about its aggregates.
    """

    _lock: GuardedLock
    _activity: ThreadActivity
    _conf: PerfprobeSettings
    _operations: dict[str, OperationStats]
    _dropped_metrics: int
    _scopes: ScopeTable
    _recent: deque[RecentItem]
    _pending: list[Any]
    thread_logs: ThreadLogs

    if TYPE_CHECKING:

        def close_pending(self) -> None: ...

    def register_thread(self) -> ThreadLog:
        """Return the calling thread's log, made and listed now if it has none."""
        with self._lock:
            # Records of finished threads are added now: nothing else reads
            # them before the next report, and until then their logs could
            # not be released, so short-lived threads would pile them up.
            for log in self.thread_logs.logs:
                if log.records and not log.thread_alive:
                    self._add_records(log.take())
            self.thread_logs.prune()
            return self.thread_logs.register()

    @deferred_if_reentered
    def fold_thread_log(self, log: ThreadLog) -> None:
        """Add the records of ``log`` (the calling thread's) to the aggregates."""
        if self._pending:
            # Requests that ended before these blocks first, so recent
            # events keep their order.
            self.close_pending()
        with self._lock:
            self._add_records(log.take())

    def mark_shared(self, thread_id: int) -> None:
        """Mark the open memory blocks of other threads process-wide."""
        # Idempotent and self-contained: safe even from a finaliser that
        # runs inside the lock.
        with self._lock:
            self._activity.mark_others(thread_id)

    def thread_log_ended_elsewhere(self, log: ThreadLog) -> None:
        """Count a timer of ``log``'s thread that another thread ended."""
        with self._lock:
            log.ended_elsewhere += 1

    def _add_thread_logs(self) -> None:
        """Add every thread's records to the aggregates; the lock is held."""
        for log in self.thread_logs.logs:
            if log.records:
                self._add_records(log.take())

    def _add_records(self, records: list[Record]) -> None:
        """Add finished timer blocks, oldest first; the lock is held."""
        conf = self._conf
        add_records(
            records,
            self._operation,
            self._scopes.lineage,
            (conf.MAX_TAG_KEYS, conf.MAX_TAG_VALUES),
        )
        self._recent.extend(records)

    def _operation(self, name: str, count: int) -> OperationStats:
        """Return the aggregates of ``name``, or of OVERFLOW_KEY past the bound.

        ``count`` measurements of a name past the bound count as dropped.
        """
        op = self._operations.get(name)
        if op is not None:
            return op
        if len(self._operations) >= self._conf.MAX_METRICS:
            self._dropped_metrics += count
            name = OVERFLOW_KEY
            op = self._operations.get(name)
            if op is not None:
                return op
        op = self._operations[name] = OperationStats(
            MetricStats(self._conf.EXACT_PERCENTILE_LIMIT)
        )
        return op
