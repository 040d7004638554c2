"""Feed perfprobe's events and closed scopes into its Prometheus metrics."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from ..aggregates import OVERFLOW_KEY, ScopeSummary
from ..collector import Collector
from ..conf import get_settings
from ..events import Event, QueryEvent, RequestEvent
from ..failures import log_failure
from ..memory import read_rss_bytes
from ..querylog import QueryBatch
from ..report.jsonio import clean_text
from .metrics import PerfprobeMetrics

logger = logging.getLogger("perfprobe.prometheus")

#: A process's memory gauge is read from the system at most this often.
MEMORY_REFRESH_S = 1.0

# Request scopes are named by method and URL pattern, a bounded set; other
# scopes are named by the code that opens them, which may put an id in the
# name. Past this many (kind, name) pairs a process counts findings under
# OVERFLOW_KEY, so no loop can flood the time-series database.
MAX_SCOPE_LABELS = 200
#: Label children kept for the next event of the same labels, at most. A
#: ``labels(...)`` call checks and joins its values under the metric's lock:
#: most of an event's cost here, every request and every query.
MAX_CACHED_CHILDREN = 2000


def _setting_on() -> bool:
    """Return whether ``PERFPROBE["PROMETHEUS"]`` is on; ``False`` if unreadable."""
    try:
        return get_settings().PROMETHEUS
    except Exception:
        return False


class PrometheusExporter:
    """Count requests, queries, findings and memory of one collector.

    Attached to a collector as a request, query batch and scope listener
    (see ``attach``), not an event listener, so that queries keep the
    recorder's fast path. The metrics are cumulative: ``monitor.reset()``
    empties the collector but never makes a Prometheus counter go back.
    Nothing here raises into the code being monitored; each kind of failure
    is logged once per process (``perfprobe.failures``), later ones at DEBUG.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None,
        enabled: Callable[[], bool] = _setting_on,
        read_rss: Callable[[], int] = read_rss_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = PerfprobeMetrics(registry)
        self._enabled = enabled
        self._read_rss = read_rss
        self._clock = clock
        self._lock = threading.Lock()
        self._collector: Collector | None = None
        self._scope_labels: set[tuple[str, str]] = set()
        # Keyed by the metric too: a metric replaced (a test's broken one)
        # is asked for its own children.
        self._children: dict[tuple[object, object], Any] = {}
        # Keyed by pid: a forked worker must read its own memory at once,
        # not wait out the second its parent last read.
        self._memory_read: tuple[int, float] = (0, -math.inf)

    # -- wiring ---------------------------------------------------------------

    @property
    def collector(self) -> Collector | None:
        """Return the collector this exporter listens to, if any."""
        return self._collector

    def attach(self, collector: Collector) -> None:
        """Listen to ``collector`` instead of any collector listened to before."""
        with self._lock:
            previous, self._collector = self._collector, collector
        if previous is collector:
            return
        if previous is not None:
            self._unlisten(previous)
        # Not an event listener: one would send every query the slow way
        # (a Python event, the lock, a call here each), where these leave
        # the query recorder's fast path and quiet requests' path on.
        collector.add_request_listener(self.on_event)
        collector.add_query_batch_listener(self.on_queries)
        # Scopes with findings only: a listener to every scope would send
        # every request the full way, quiet or not.
        collector.add_scope_listener(self.on_scope, findings_only=True)
        # A live gauge that was never set reads 0 bytes: a worker that has
        # not served yet must still show its true memory.
        self.refresh_memory(force=True)

    def detach(self) -> None:
        """Stop listening; the metrics keep their values."""
        with self._lock:
            previous, self._collector = self._collector, None
        if previous is not None:
            self._unlisten(previous)

    def _unlisten(self, collector: Collector) -> None:
        collector.remove_request_listener(self.on_event)
        collector.remove_query_batch_listener(self.on_queries)
        collector.remove_scope_listener(self.on_scope)

    # -- listeners ------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Count a finished request or a database call; ignore other events."""
        try:
            if not self._enabled():
                return
            metrics = self.metrics
            children = self._children
            if isinstance(event, RequestEvent):
                metric = metrics.request_duration
                labels = (metric, (event.method, event.route, event.status))
                child = children.get(labels)
                if child is None:
                    child = metric.labels(
                        method=event.method,
                        route=event.route,
                        status=str(event.status),
                    )
                    self._keep_child(labels, child)
                child.observe(event.duration_s)
                self.refresh_memory()
            elif isinstance(event, QueryEvent):
                self._count_queries([event.alias], [event.duration_s])
        except Exception:
            self._log_failure("event", "an event")

    def on_queries(self, batch: QueryBatch) -> None:
        """Count database calls: their aliases and durations, in one batch."""
        try:
            if not self._enabled():
                return
            self._count_queries(*batch)
        except Exception:
            self._log_failure("event", "an event")

    def _count_queries(self, aliases: list[str], durations: list[float]) -> None:
        if not aliases:
            return
        first = aliases[0]
        if aliases.count(first) == len(aliases):
            # Nearly always: one database.
            by_alias = {first: durations}
        else:
            by_alias = {}
            for alias, duration_s in zip(aliases, durations, strict=True):
                by_alias.setdefault(alias, []).append(duration_s)
        metrics = self.metrics
        counter, histogram = metrics.queries, metrics.query_duration
        for alias, values in by_alias.items():
            key = ((counter, histogram), alias)
            pair = self._children.get(key)
            if pair is None:
                pair = (counter.labels(alias=alias), histogram.labels(alias=alias))
                self._keep_child(key, pair)
            pair[0].inc(len(values))
            observe = pair[1].observe
            for duration_s in values:
                observe(duration_s)

    def on_scope(self, summary: ScopeSummary) -> None:
        """Count the N+1 and duplicate findings of a scope that has closed."""
        try:
            if not self._enabled():
                return
            if not (summary.n_plus_one or summary.duplicates):
                return
            kind, scope = self._scope_label(summary)
            if summary.n_plus_one:
                self.metrics.n_plus_one.labels(kind=kind, scope=scope).inc(
                    len(summary.n_plus_one)
                )
            if summary.duplicates:
                self.metrics.duplicates.labels(kind=kind, scope=scope).inc(
                    len(summary.duplicates)
                )
        except Exception:
            self._log_failure("scope", "a closed scope")

    def refresh_memory(self, force: bool = False) -> None:
        """Set the memory gauge, unless this process did in the last second.

        ``force`` reads it regardless, as a scrape does. Failures are logged,
        not raised.
        """
        try:
            pid, now = os.getpid(), self._clock()
            last_pid, last_at = self._memory_read
            if not force and pid == last_pid and now - last_at < MEMORY_REFRESH_S:
                return
            # Claimed before the read, so concurrent requests read once.
            self._memory_read = (pid, now)
            self.metrics.resident_memory.set(self._read_rss())
        except Exception:
            self._log_failure("memory", "the process memory")

    # -- helpers --------------------------------------------------------------

    def _keep_child(self, key: tuple[object, object], child: Any) -> None:
        # Bounded: past the bound each new set of labels is looked up again.
        if len(self._children) < MAX_CACHED_CHILDREN:
            self._children[key] = child

    def _scope_label(self, summary: ScopeSummary) -> tuple[str, str]:
        # A lone surrogate (a name from a file name decoded with
        # surrogateescape) has no UTF-8: kept in a series, which a counter
        # never forgets, it would fail every later scrape.
        key = (clean_text(summary.kind), clean_text(summary.name))
        with self._lock:
            if key in self._scope_labels:
                return key
            if len(self._scope_labels) < MAX_SCOPE_LABELS:
                self._scope_labels.add(key)
                return key
        return (OVERFLOW_KEY, OVERFLOW_KEY)

    def _log_failure(self, kind: str, what: str) -> None:
        log_failure(
            logger,
            f"exporter-{kind}",
            "perfprobe's Prometheus exporter failed on %s",
            what,
        )
