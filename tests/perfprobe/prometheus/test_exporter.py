"""Tests for perfprobe.prometheus.exporter: names, units, labels and values."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from django.db import connection
from django.test import Client
from prometheus_client import CollectorRegistry, generate_latest
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.events import QueryEvent, RequestEvent
from perfprobe.prometheus import exporter as exporter_module
from perfprobe.prometheus import runtime
from perfprobe.prometheus.exporter import PrometheusExporter

from . import urls

pytestmark = pytest.mark.django_db

REQUESTS = "perfprobe_http_request_duration_seconds"
QUERIES = "perfprobe_db_queries_total"
QUERY_DURATION = "perfprobe_db_query_duration_seconds"
N_PLUS_ONE = "perfprobe_n_plus_one_findings_total"
DUPLICATES = "perfprobe_duplicate_query_findings_total"
MEMORY = "perfprobe_process_resident_memory_bytes"


@pytest.fixture(autouse=True)
def prometheus_on(settings: Settings) -> None:
    """Turn PROMETHEUS on and serve the test views."""
    settings.PERFPROBE = {"PROMETHEUS": True}
    settings.ROOT_URLCONF = "tests.perfprobe.prometheus.urls"


@pytest.fixture
def registry() -> CollectorRegistry:
    """Return a registry no other test writes to."""
    return CollectorRegistry()


@pytest.fixture
def exporter(
    registry: CollectorRegistry, fresh_monitor: PerformanceMonitor
) -> Iterator[PrometheusExporter]:
    """Return an exporter into ``registry``, listening to the default monitor."""
    exp = PrometheusExporter(registry)
    exp.attach(fresh_monitor.collector)
    yield exp
    exp.detach()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Return one sample's value, 0.0 when the series does not exist."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def request_event(duration_s: float, route: str = "/r/", status: int = 200) -> Any:
    """Return a finished GET request of ``duration_s`` seconds."""
    return RequestEvent(
        method="GET",
        route=route,
        status=status,
        duration_s=duration_s,
        started_at=0.0,
        thread_id=0,
        query_count=0,
        query_time_s=0.0,
        scope=None,
    )


def query_event(duration_s: float, alias: str = "default") -> QueryEvent:
    """Return one database call of ``duration_s`` seconds on ``alias``."""
    return QueryEvent(
        alias=alias,
        vendor="sqlite",
        sql="SELECT 1",
        fingerprint="SELECT ?",
        duration_s=duration_s,
        started_at=0.0,
        thread_id=0,
        scope=None,
        call_site=None,
    )


def test_requests_are_counted_by_route_method_and_status(
    client: Client, registry: CollectorRegistry, exporter: PrometheusExporter
) -> None:
    """Known requests land in the histogram under their pattern, never the path."""
    for pk in (1, 2, 3, 2):
        assert client.get(f"/items/{pk}/").status_code == 200
    client.post("/three/")
    client.get("/busy/")
    client.get("/nowhere/")

    count = REQUESTS + "_count"
    items = {"method": "GET", "route": "/items/<int:pk>/", "status": "200"}
    assert value(registry, count, **items) == 4
    assert value(registry, count, method="POST", route="/three/", status="200") == 1
    assert value(registry, count, method="GET", route="/busy/", status="503") == 1
    assert value(registry, count, method="GET", route="(unmatched)", status="404") == 1
    labels = {
        label
        for family in registry.collect()
        for sample in family.samples
        for label in sample.labels.values()
    }
    assert not any(
        label.startswith(("/items/1", "/items/2", "/nowhere")) for label in labels
    )


def test_request_buckets_hold_known_durations(
    registry: CollectorRegistry, exporter: PrometheusExporter
) -> None:
    """Durations of 3 ms, 20 ms, 300 ms and 12 s fill the buckets as counted by hand."""
    collector = exporter.collector
    assert collector is not None
    for duration_s in (0.003, 0.02, 0.3, 12.0):
        collector.record_request(request_event(duration_s), None)

    def bucket(le: str) -> float:
        labels = {"method": "GET", "route": "/r/", "status": "200", "le": le}
        return value(registry, REQUESTS + "_bucket", **labels)

    assert bucket("0.005") == 1
    assert bucket("0.025") == 2
    assert bucket("0.25") == 2
    assert bucket("0.5") == 3
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 4
    labels = {"method": "GET", "route": "/r/", "status": "200"}
    assert value(registry, REQUESTS + "_sum", **labels) == pytest.approx(12.323)
    bounds = {
        sample.labels["le"]
        for family in registry.collect()
        if family.name == REQUESTS
        for sample in family.samples
        if sample.name.endswith("_bucket")
    }
    # 5 ms to 10 s, as the deployment notes document.
    documented = "0.005 0.01 0.025 0.05 0.075 0.1 0.25 0.5 0.75 1.0 2.5 5.0 7.5 10.0"
    assert bounds == {*documented.split(), "+Inf"}


def test_queries_are_counted_and_timed_by_alias(
    registry: CollectorRegistry, exporter: PrometheusExporter
) -> None:
    """Two queries on one alias and one on another give hand-computed series."""
    collector = exporter.collector
    assert collector is not None
    collector.record_query(query_event(0.0002), None)
    collector.record_query(query_event(0.004), None)
    collector.record_query(query_event(0.3, alias="replica"), None)

    assert value(registry, QUERIES, alias="default") == 2
    assert value(registry, QUERIES, alias="replica") == 1
    assert value(registry, QUERY_DURATION + "_count", alias="default") == 2
    assert value(registry, QUERY_DURATION + "_sum", alias="default") == pytest.approx(
        0.0042
    )
    default_le = {"alias": "default"}
    assert value(registry, QUERY_DURATION + "_bucket", le="0.0005", **default_le) == 1
    assert value(registry, QUERY_DURATION + "_bucket", le="0.0025", **default_le) == 1
    assert value(registry, QUERY_DURATION + "_bucket", le="0.005", **default_le) == 2
    replica_le = {"alias": "replica"}
    assert value(registry, QUERY_DURATION + "_bucket", le="0.25", **replica_le) == 0
    assert value(registry, QUERY_DURATION + "_bucket", le="0.5", **replica_le) == 1


def test_real_queries_of_requests_are_counted(
    client: Client, registry: CollectorRegistry, exporter: PrometheusExporter
) -> None:
    """Two requests of a three-query view and one of a one-query view make seven."""
    client.get("/three/")
    client.get("/three/")
    client.get("/items/5/")
    assert value(registry, QUERIES, alias="default") == 7
    assert value(registry, QUERY_DURATION + "_count", alias="default") == 7


def test_findings_are_counted_per_request_route(
    client: Client, registry: CollectorRegistry, exporter: PrometheusExporter
) -> None:
    """Each N+1 and each duplicate found in a request adds one to its route's count."""
    client.get("/n-plus-one/")
    client.get("/n-plus-one/")
    client.get("/duplicates/")
    client.get("/three/")
    client.get("/two-n-plus-ones/")

    request = {"kind": "request"}
    assert value(registry, N_PLUS_ONE, scope="GET /two-n-plus-ones/", **request) == 2
    assert value(registry, N_PLUS_ONE, scope="GET /n-plus-one/", **request) == 2
    assert value(registry, DUPLICATES, scope="GET /duplicates/", **request) == 1
    assert value(registry, N_PLUS_ONE, scope="GET /duplicates/", **request) == 0
    assert value(registry, DUPLICATES, scope="GET /n-plus-one/", **request) == 0
    assert value(registry, N_PLUS_ONE, scope="GET /three/", **request) == 0
    assert value(registry, QUERIES, alias="default") == (
        4 * urls.N_PLUS_ONE_QUERIES + urls.DUPLICATE_RUNS + 3
    )


def test_scope_labels_are_bounded(
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the bound, scopes named with an id share one overflow series."""
    monkeypatch.setattr(exporter_module, "MAX_SCOPE_LABELS", 3)
    for job in range(5):
        with fresh_monitor.scope(f"job-{job}", kind="batch"):
            urls.select_each([1, 1])

    for job in range(3):
        assert value(registry, DUPLICATES, kind="batch", scope=f"job-{job}") == 1
    assert value(registry, DUPLICATES, kind="batch", scope="job-3") == 0
    assert value(registry, DUPLICATES, kind="(other)", scope="(other)") == 2


def test_a_scope_name_with_a_lone_surrogate_keeps_the_exposition_text(
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A lone surrogate in a scope's name or kind is written out as ``\\udXXX``.

    A name from a file name decoded with surrogateescape, kept as a label,
    made every later scrape fail (``UnicodeEncodeError``), since a counter's
    series is never forgotten.
    """
    with fresh_monitor.scope("import-\udcff.csv", kind="batch\udc80"):
        urls.select_each([1, 1])

    text = generate_latest(registry).decode("utf-8")
    labels = 'kind="batch\\\\udc80",scope="import-\\\\udcff.csv"'
    assert f"{DUPLICATES}{{{labels}}} 1.0" in text


def test_counters_survive_a_monitor_reset(
    client: Client,
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A reset empties the collector but the counters keep counting up."""
    client.get("/items/1/")
    fresh_monitor.reset()
    client.get("/items/1/")
    labels = {"method": "GET", "route": "/items/<int:pk>/", "status": "200"}
    assert value(registry, REQUESTS + "_count", **labels) == 2
    assert value(registry, QUERIES, alias="default") == 2


def test_nothing_is_counted_while_the_setting_is_off(
    client: Client,
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    settings: Settings,
) -> None:
    """Turning PROMETHEUS off at run time stops the counting."""
    settings.PERFPROBE = {"PROMETHEUS": False}
    client.get("/n-plus-one/")
    assert value(registry, QUERIES, alias="default") == 0
    assert value(registry, N_PLUS_ONE, kind="request", scope="GET /n-plus-one/") == 0


def test_attach_moves_the_listeners(registry: CollectorRegistry) -> None:
    """After attaching elsewhere, the first collector's events are not counted."""
    first, second = Collector(), Collector()
    exp = PrometheusExporter(registry)
    exp.attach(first)
    exp.attach(first)
    first.record_query(query_event(0.001), None)
    exp.attach(second)
    first.record_query(query_event(0.001), None)
    second.record_query(query_event(0.001, alias="other"), None)
    exp.detach()
    second.record_query(query_event(0.001, alias="other"), None)

    assert value(registry, QUERIES, alias="default") == 1
    assert value(registry, QUERIES, alias="other") == 1


def test_memory_is_read_at_most_once_a_second(registry: CollectorRegistry) -> None:
    """Requests within a second reuse the last reading; a later one reads again."""
    readings = iter([100, 200, 300])
    now = [10.0]
    exp = PrometheusExporter(
        registry, read_rss=lambda: next(readings), clock=lambda: now[0]
    )
    collector = Collector()
    exp.attach(collector)
    assert value(registry, MEMORY) == 100

    now[0] = 10.5
    collector.record_request(request_event(0.01), None)
    assert value(registry, MEMORY) == 100
    now[0] = 11.2
    collector.record_request(request_event(0.01), None)
    assert value(registry, MEMORY) == 200
    exp.refresh_memory(force=True)
    assert value(registry, MEMORY) == 300


def test_memory_gauge_is_the_resident_set_size(registry: CollectorRegistry) -> None:
    """The gauge, in bytes, is within a fifth of what psutil reads for the process."""
    exp = PrometheusExporter(registry)
    exp.attach(Collector())
    rss_bytes = psutil.Process().memory_info().rss
    assert value(registry, MEMORY) == pytest.approx(rss_bytes, rel=0.2)


def test_a_failing_exporter_never_breaks_the_request(
    client: Client,
    exporter: PrometheusExporter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A metric that raises is logged once by perfprobe.prometheus; requests succeed."""

    class Broken:
        def labels(self, **labels: str) -> Any:
            raise RuntimeError("metric store is gone")

    monkeypatch.setattr(exporter.metrics, "request_duration", Broken())
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        assert client.get("/items/1/").status_code == 200
        assert client.get("/items/2/").status_code == 200
    failures = [r for r in caplog.records if r.name == "perfprobe.prometheus"]
    assert len(failures) == 1
    assert "metric store is gone" in (failures[0].exc_text or "")


def test_a_failing_memory_read_is_logged_not_raised(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """When psutil fails, attaching still works and the failure is logged."""

    def broken() -> int:
        raise psutil.AccessDenied()

    exp = PrometheusExporter(registry, read_rss=broken)
    collector = Collector()
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        exp.attach(collector)
    collector.record_query(query_event(0.001), None)
    assert value(registry, QUERIES, alias="default") == 1
    assert [r.name for r in caplog.records] == ["perfprobe.prometheus"]


def test_label_sets_past_the_kept_children_are_still_counted(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two children kept at most; five routes and three aliases, each counted."""
    monkeypatch.setattr(exporter_module, "MAX_CACHED_CHILDREN", 2)
    exp = PrometheusExporter(registry, enabled=lambda: True)
    routes = [f"/r{index}/" for index in range(5)]
    for _ in range(3):
        for index, route in enumerate(routes):
            exp.on_event(request_event(0.001 * (index + 1), route, 200 + index))
        for alias in ("default", "replica", "other"):
            exp.on_event(query_event(0.002, alias))

    for index, route in enumerate(routes):
        labels = {"method": "GET", "route": route, "status": str(200 + index)}
        assert value(registry, f"{REQUESTS}_count", **labels) == 3
        assert value(registry, f"{REQUESTS}_sum", **labels) == pytest.approx(
            0.003 * (index + 1)
        )
    for alias in ("default", "replica", "other"):
        assert value(registry, QUERIES, alias=alias) == 3
        assert value(registry, f"{QUERY_DURATION}_count", alias=alias) == 3
    assert len(exp._children) == 2


def test_a_replaced_metric_is_asked_for_its_own_children(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A child kept for the old metric is not used for the one put in its place."""
    exp = PrometheusExporter(registry, enabled=lambda: True)
    exp.on_event(request_event(0.01))
    old = exp.metrics.request_duration
    seen: list[dict[str, str]] = []

    class Recording:
        def labels(self, **labels: str) -> Any:
            seen.append(labels)
            return old.labels(**labels)

    exp.metrics.request_duration = Recording()  # type: ignore[assignment]
    exp.on_event(request_event(0.01))
    exp.on_event(request_event(0.01))

    assert seen == [{"method": "GET", "route": "/r/", "status": "200"}]
    labels = {"method": "GET", "route": "/r/", "status": "200"}
    assert value(registry, f"{REQUESTS}_count", **labels) == 3


def test_queries_outside_a_request_wait_on_the_fast_path_then_count(
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Ten queries outside any request stay raw in the thread log until folded.

    As an event listener the exporter sent every query the slow way, so
    none ever waited in the log.
    """
    with connection.cursor() as cursor:
        for index in range(10):
            cursor.execute("SELECT %s", [index])
    log = fresh_monitor.collector.thread_logs.register()
    assert len(log.queries) == 10

    fresh_monitor.collector.fold_queries()

    assert not log.queries
    assert value(registry, QUERIES, alias="default") == 10
    assert value(registry, QUERY_DURATION + "_count", alias="default") == 10


def test_a_scrape_counts_the_queries_waiting_in_its_process(
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four queries run outside a request are counted by the next scrape."""
    monkeypatch.setattr(runtime, "_exporter", exporter)
    with connection.cursor() as cursor:
        for index in range(4):
            cursor.execute("SELECT %s", [index])
    assert value(registry, QUERIES, alias="default") == 0

    runtime.render(None)

    assert value(registry, QUERIES, alias="default") == 4


def test_one_batch_of_several_databases_is_counted_per_alias(
    registry: CollectorRegistry,
) -> None:
    """Aliases interleaved in one batch: each alias its own count and sum."""
    exp = PrometheusExporter(registry, enabled=lambda: True)
    exp.on_queries((["a", "b", "a", "c", "a"], [0.001, 0.002, 0.003, 0.004, 0.3]))

    assert value(registry, QUERIES, alias="a") == 3
    assert value(registry, QUERIES, alias="b") == 1
    assert value(registry, QUERIES, alias="c") == 1
    assert value(registry, QUERY_DURATION + "_sum", alias="a") == pytest.approx(0.304)
    assert value(registry, QUERY_DURATION + "_bucket", alias="a", le="0.25") == 2
    assert value(registry, QUERY_DURATION + "_bucket", alias="a", le="0.5") == 3


def test_a_request_without_queries_stays_quiet_and_is_counted_at_once(
    client: Client,
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Two quiet requests: kept as tuples (no summary made), both in the histogram.

    As a listener to every scope, the exporter sent every request the full
    way (a scope state, a summary, an event), quiet or not.
    """
    client.get("/quiet/")
    client.get("/quiet/")

    labels = {"method": "GET", "route": "/quiet/", "status": "200"}
    assert value(registry, REQUESTS + "_count", **labels) == 2
    history = fresh_monitor.collector._scopes.history
    assert [type(item) for item in list(history)[-2:]] == [tuple, tuple]


def test_queries_waiting_at_a_reset_are_counted(
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Seven queries outside a request, a reset, three more: ten counted.

    A reset threw away the raw queries waiting in the thread logs, so the
    exporter, which counts them when folded, never saw the first seven.
    """
    with connection.cursor() as cursor:
        for index in range(7):
            cursor.execute("SELECT %s", [index])
    fresh_monitor.reset()
    with connection.cursor() as cursor:
        for index in range(3):
            cursor.execute("SELECT %s", [index])
    fresh_monitor.collector.fold_queries()

    assert value(registry, QUERIES, alias="default") == 10
    assert value(registry, QUERY_DURATION + "_count", alias="default") == 10


@pytest.mark.parametrize("move", ["attach", "detach"])
def test_queries_waiting_when_the_exporter_moves_are_counted(
    move: str,
    registry: CollectorRegistry,
    exporter: PrometheusExporter,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Queries run while it listened are counted when it leaves the collector.

    Attached to a new collector (the monitor's replaced) or detached, the
    exporter stopped listening before the five raw queries waiting in the
    thread log were folded: they were never counted.
    """
    with connection.cursor() as cursor:
        for index in range(5):
            cursor.execute("SELECT %s", [index])
    if move == "attach":
        exporter.attach(Collector())
    else:
        exporter.detach()

    assert value(registry, QUERIES, alias="default") == 5
    # Still in the first collector's figures too, once.
    assert fresh_monitor.collector.snapshot().queries_outside_scopes == 5
