"""Define perfprobe's Prometheus metrics: names, units, labels and buckets.

Importing this module imports ``prometheus_client``; only the exporter and
the metrics view do, and only while ``PERFPROBE["PROMETHEUS"]`` is on.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

#: Every metric name starts with this, so perfprobe's series are easy to find.
PREFIX = "perfprobe"

# The client's defaults, which are also OpenTelemetry's advice for HTTP
# server durations: 5 ms to 10 s.
REQUEST_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

# Most queries finish in well under a millisecond; the slow end matches the
# request buckets so a slow query and its slow request fall in equal bins.
QUERY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class PerfprobeMetrics:
    """Create perfprobe's metrics in ``registry`` (``None``: in no registry).

    In multi-process mode the values live in files, whatever the registry;
    ``None`` then spares the process-wide registry names nobody reads there.
    Registration is all or nothing: if one name is taken (``ValueError``
    from the registry), the metrics registered before it are unregistered
    and the error is raised, so a later attempt can still succeed.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        # Each metric is created in no registry and registered below, all at
        # once, so a name clash leaves no half-registered set behind.
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request reaching perfprobe's middleware to its "
            "response, by URL pattern (never the raw path), method and status.",
            ["method", "route", "status"],
            namespace=PREFIX,
            buckets=REQUEST_BUCKETS_S,
            registry=None,
        )
        self.queries = Counter(
            "db_queries",
            "Database calls (an executemany is one call), by database alias.",
            ["alias"],
            namespace=PREFIX,
            registry=None,
        )
        self.query_duration = Histogram(
            "db_query_duration_seconds",
            "Duration of each database call, by database alias.",
            ["alias"],
            namespace=PREFIX,
            buckets=QUERY_BUCKETS_S,
            registry=None,
        )
        self.n_plus_one = Counter(
            "n_plus_one_findings",
            "N+1 query patterns found in closed scopes, by scope kind and name "
            "(a request scope is named by method and URL pattern).",
            ["kind", "scope"],
            namespace=PREFIX,
            registry=None,
        )
        self.duplicates = Counter(
            "duplicate_query_findings",
            "Repeated identical queries found in closed scopes, by scope kind "
            "and name.",
            ["kind", "scope"],
            namespace=PREFIX,
            registry=None,
        )
        # liveall: one series per live process (a pid label), removed by
        # mark_process_dead, so a dead worker's memory does not linger.
        self.resident_memory = Gauge(
            "process_resident_memory_bytes",
            "Resident set size of the process, refreshed at most once a second "
            "and at each scrape.",
            namespace=PREFIX,
            multiprocess_mode="liveall",
            registry=None,
        )
        if registry is not None:
            _register_all(
                registry,
                (
                    self.request_duration,
                    self.queries,
                    self.query_duration,
                    self.n_plus_one,
                    self.duplicates,
                    self.resident_memory,
                ),
            )


def _register_all(
    registry: CollectorRegistry, metrics: tuple[MetricWrapperBase, ...]
) -> None:
    done: list[MetricWrapperBase] = []
    try:
        for metric in metrics:
            registry.register(metric)
            done.append(metric)
    except Exception:
        for metric in reversed(done):
            registry.unregister(metric)
        raise
