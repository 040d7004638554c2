"""Name the benchmarked configurations and views; no Django needed here."""

from __future__ import annotations

from dataclasses import dataclass

BASELINE = "none"
#: The baseline's settings in a second worker, timed against the baseline
#: like every configuration: what a comparison reads when nothing differs.
CONTROL = "control"
PERFPROBE = "perfprobe"


@dataclass(frozen=True)
class Configuration:
    """One way of running the site, each in a worker process of its own."""

    name: str
    description: str
    #: Whether the tool points out N+1 queries (not only records them).
    detects_n_plus_one: bool


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration(BASELINE, "no monitoring", False),
    Configuration(
        CONTROL,
        "no monitoring, a second worker with the baseline's settings (the "
        "noise of a comparison)",
        False,
    ),
    Configuration(
        PERFPROBE,
        "perfprobe, default settings (middleware, query tracking, N+1 and "
        "duplicate analysis)",
        True,
    ),
    Configuration(
        "perfprobe-prometheus",
        "perfprobe, default settings and PROMETHEUS (the production set-up of "
        "docs/deploying-prometheus.md)",
        True,
    ),
    Configuration(
        "perfprobe-all",
        "perfprobe, everything on (PROMETHEUS, spans to an SDK provider, "
        "STORE_SQL_PARAMETERS, STORE_QUERY_STRINGS)",
        True,
    ),
    Configuration(
        "django-prometheus",
        "django-prometheus middleware and its instrumented SQLite backend",
        False,
    ),
    Configuration(
        "opentelemetry",
        "opentelemetry-instrumentation-django, SDK, synchronous discarding exporter",
        False,
    ),
    Configuration("silk", "django-silk middleware (SQL recorded, profiler off)", False),
    Configuration(
        "debug-toolbar",
        "django-debug-toolbar, shown on every request (panels record, toolbar stored)",
        True,
    ),
    Configuration("nplusone", "nplusone middleware, logging (not raising)", True),
)

BY_NAME = {c.name: c for c in CONFIGURATIONS}


@dataclass(frozen=True)
class View:
    """One benchmarked URL and how many queries it runs."""

    name: str
    path: str
    queries: int
    description: str


VIEWS: tuple[View, ...] = (
    View("no-query", "/json/", 0, "JSON, no queries"),
    View("joined-list", "/list/", 1, "50 rows, select_related (1 query)"),
    View("lazy-list", "/lazy/", 51, "50 rows read lazily (51 queries, N+1)"),
)

VIEWS_BY_NAME = {v.name: v for v in VIEWS}
