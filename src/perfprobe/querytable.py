"""Keep the per-fingerprint query aggregates, their total and the slowest."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from .aggregates import OVERFLOW_KEY
from .conf import PerfprobeSettings
from .events import QueryEvent
from .sketch import load_fold
from .stats import MetricStats

_alias = itemgetter(0)

#: Durations a fold leaves per fingerprint's figures (``QueryTable.add_records``):
#: the runs' values joined, and each run's sum.
StatsRuns = dict[MetricStats, tuple[list[float], list[float]]]


def indices_above(values: list[float], floor: float) -> list[int]:
    """Return the indices of ``values`` above ``floor``, in order.

    The definition of ``_fold.indices_above``, which does it in one pass in
    C for a list of floats.
    """
    if not values or max(values) <= floor:
        # The common case, a batch none of which is among the slowest, in C.
        return []
    return [index for index, value in enumerate(values) if value > floor]


_indices_above: Callable[[list[float], float], list[int] | None] | None = load_fold(
    "indices_above"
)


@dataclass
class QueryStats:
    """Aggregates of one SQL fingerprint."""

    sample_sql: str
    vendor: str
    stats: MetricStats
    aliases: set[str] = field(default_factory=set)
    call_sites: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    batch_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a copy for a snapshot, call sites most frequent first."""
        return {
            "sample_sql": self.sample_sql,
            "vendor": self.vendor,
            "stats": self.stats.summary(),
            "aliases": sorted(self.aliases),
            "call_sites": dict(self.call_sites.most_common()),
            "errors": dict(self.errors),
            "batches": self.batches,
            "batch_rows": self.batch_rows,
        }


class QueryTable:
    """Per-fingerprint query aggregates, the total, and the N slowest queries.

    At most ``MAX_FINGERPRINTS`` shapes are kept; queries of further shapes
    go to ``OVERFLOW_KEY`` and are counted in ``dropped``. Each shape keeps
    at most ``MAX_CALL_SITES`` call sites, the first seen. Queries that no
    open scope held are counted in ``outside_scopes`` as well as in the
    total. Not thread-safe: the collector calls it under its lock.
    """

    def __init__(self, conf: PerfprobeSettings) -> None:
        self._conf = conf
        self._shapes: dict[str, QueryStats] = {}
        self.total = MetricStats(conf.EXACT_PERCENTILE_LIMIT)
        self.slow_count = 0
        self.dropped = 0
        self.outside_scopes = 0
        #: Events, or raw query records (``perfprobe.querylog``).
        self._slowest: list[tuple[float, int, QueryEvent | list[Any]]] = []
        self._sequence = itertools.count()
        self._max_call_sites = conf.MAX_CALL_SITES
        self._max_slow = conf.MAX_SLOW_QUERIES

    def add(
        self, event: QueryEvent, slow_query_s: float, *, in_scope: bool = True
    ) -> QueryStats:
        """Count ``event`` and return the aggregates of its fingerprint.

        ``in_scope`` is false when no open scope held the query.
        """
        if not in_scope:
            self.outside_scopes += 1
        key = event.fingerprint
        q = self._shapes.get(key)
        if q is None:
            if len(self._shapes) >= self._conf.MAX_FINGERPRINTS:
                self.dropped += 1
                key = OVERFLOW_KEY
                q = self._shapes.get(key)
            if q is None:
                q = self._shapes[key] = QueryStats(
                    sample_sql=event.sql,
                    vendor=event.vendor,
                    stats=MetricStats(self._conf.EXACT_PERCENTILE_LIMIT),
                )
        duration_s = event.duration_s
        q.stats.add(duration_s)
        q.aliases.add(event.alias)
        site = event.call_site or "(unknown)"
        sites = q.call_sites
        if site in sites:
            sites[site] += 1
        elif len(sites) < self._max_call_sites:
            sites[site] = 1
        if event.many:
            q.batches += 1
            q.batch_rows += event.batch_size
        self.total.add(duration_s)
        if duration_s > slow_query_s:
            self.slow_count += 1
        # A min-heap of the N slowest: the root is the fastest one kept. Once
        # it is full, most queries are faster than the root and stop here.
        slowest = self._slowest
        if len(slowest) < self._max_slow:
            heapq.heappush(slowest, (duration_s, next(self._sequence), event))
        elif duration_s > slowest[0][0]:
            heapq.heapreplace(slowest, (duration_s, next(self._sequence), event))
        return q

    def add_records(
        self,
        shape: str,
        call_site: str | None,
        records: list[list[Any]],
        durations: list[float],
        alias: str | None = None,
        runs: StatsRuns | None = None,
        total_s: float = 0.0,
    ) -> None:
        """Count raw queries of one fingerprint and call site, as ``add`` would.

        ``durations`` are theirs, in order; ``alias``, if given, the one
        every record holds. With ``runs``, the durations (summing to
        ``total_s``, finite) are left there for the caller's ``add_runs``
        (``durations`` then joins the list), so that a fold adds each
        fingerprint's once however many scopes ran it. The total, the slow
        count and the slowest are ``add_totals``'s. Raw queries are never
        batches.
        """
        q = self._shapes.get(shape)
        if q is None:
            key = shape
            if len(self._shapes) >= self._conf.MAX_FINGERPRINTS:
                self.dropped += len(records)
                key = OVERFLOW_KEY
                q = self._shapes.get(key)
            if q is None:
                q = self._shapes[key] = QueryStats(
                    sample_sql=shape,
                    vendor=records[0][1],
                    stats=MetricStats(self._conf.EXACT_PERCENTILE_LIMIT),
                )
        stats = q.stats
        if runs is None:
            stats.add_many(durations)
        elif (run := runs.get(stats)) is None:
            runs[stats] = (durations, [total_s])
        else:
            run[0].extend(durations)
            run[1].append(total_s)
        if alias is not None:
            q.aliases.add(alias)
        else:
            q.aliases.update(map(_alias, records))
        site = call_site or "(unknown)"
        sites = q.call_sites
        if site in sites:
            sites[site] += len(records)
        elif len(sites) < self._max_call_sites:
            sites[site] = len(records)

    def add_totals(self, records: list[list[Any]], durations: list[float]) -> None:
        """Add raw queries (none of them slow) to the total and the slowest."""
        self.total.add_many(durations)
        slowest = self._slowest
        keep = self._max_slow
        if len(slowest) >= keep:
            if not slowest:
                return
            # Only those above the floor can enter: usually none of a batch
            # of hundreds, or a few, where ranking the whole batch cost a
            # sort of it per fold.
            floor = slowest[0][0]
            found = (
                _indices_above(durations, floor) if _indices_above is not None else None
            )
            chosen = indices_above(durations, floor) if found is None else found
            if not chosen:
                return
            if len(chosen) > keep:
                # The slowest ``keep`` of them (a stable sort, so equal
                # durations keep their order, the later first), then taken in
                # their own order, as one by one.
                ranked = sorted(chosen, key=durations.__getitem__)
                ranked.reverse()
                chosen = sorted(ranked[:keep])
        else:
            chosen = range(len(durations))  # type: ignore[assignment]
        for index in chosen:
            duration_s = durations[index]
            if len(slowest) < keep:
                heapq.heappush(
                    slowest, (duration_s, next(self._sequence), records[index])
                )
            elif duration_s > slowest[0][0]:
                heapq.heapreplace(
                    slowest, (duration_s, next(self._sequence), records[index])
                )

    def slowest(self) -> list[QueryEvent | list[Any]]:
        """Return the kept slowest queries, slowest first (some maybe raw)."""
        return [e for _, _, e in sorted(self._slowest, reverse=True)]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return each fingerprint's aggregates for a snapshot."""
        return {fp: q.to_dict() for fp, q in self._shapes.items()}
