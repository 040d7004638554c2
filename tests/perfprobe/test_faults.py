"""Fault injection: a failure inside perfprobe never reaches the application.

Each test breaks one seam (a public method of the collector, a listener, an
exporter, a renderer, the tracer) and then serves the same requests as
without the fault: the answers must be identical, and each kind of
failure logged once through a ``perfprobe.*`` logger, however many requests
meet it. The database faults check the reverse: an error of the
application's own is recorded and reaches it unchanged.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import DatabaseError, connection, connections, transaction
from django.test import AsyncClient, Client, override_settings
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from prometheus_client import CollectorRegistry
from pytest_django import Settings

import perfprobe
from perfprobe import PerformanceMonitor, tracing
from perfprobe.collector import Collector
from perfprobe.events import QueryEvent, RequestEvent, error_type_name
from perfprobe.prometheus.exporter import PrometheusExporter

from . import fault_urls

pytestmark = pytest.mark.django_db

TOKEN = "fault-report-token-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
#: How many requests meet each fault: the first logs it, the others must not.
REPEATS = 3
PERFPROBE_DIR = str(perfprobe.__path__[0])


class InjectedFault(RuntimeError):
    """The failure planted inside perfprobe by a test."""


def broken(*args: Any, **kwargs: Any) -> Any:
    """Stand in for any perfprobe callable: raise ``InjectedFault``."""
    raise InjectedFault("injected by the test")


@pytest.fixture(autouse=True)
def fault_urls_on(settings: Settings) -> Iterator[None]:
    """Serve the fault views, with the live report behind a token."""
    settings.ROOT_URLCONF = "tests.perfprobe.fault_urls"
    settings.PERFPROBE = {"REPORT_TOKEN": TOKEN}
    fault_urls.raised.clear()
    yield
    fault_urls.raised.clear()


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """Capture every record; return a function listing those at ERROR or above."""
    caplog.set_level(logging.DEBUG)

    def at_error() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno >= logging.ERROR]

    return at_error


def answer(path: str, **headers: Any) -> tuple[int, bytes, str, str | None]:
    """GET ``path`` (ASGI for paths under /async) and return what a user sees."""
    if path.startswith("/async"):
        response = async_to_sync(AsyncClient().get)(path, **headers)
    else:
        response = Client().get(path, **headers)
    return (
        response.status_code,
        response.content,
        response["Content-Type"],
        response.get("X-Work"),
    )


def is_perfprobe(record: logging.LogRecord) -> bool:
    """Return whether ``record`` came through one of perfprobe's loggers."""
    return record.name == "perfprobe" or record.name.startswith("perfprobe.")


def assert_each_kind_logged_once(records: list[logging.LogRecord]) -> None:
    """Check that the fault was logged by perfprobe, once per kind, with its cause.

    Other loggers may log at ERROR (Django logs each 500 it serves), but
    never the injected fault.
    """
    ours = [r for r in records if is_perfprobe(r)]
    assert ours, "the fault was not logged"
    kinds = [(r.name, r.__dict__.get("perfprobe_failure")) for r in ours]
    assert len(kinds) == len(set(kinds)), kinds
    assert all(r.exc_info is not None for r in ours)
    for other in records:
        if not is_perfprobe(other) and other.exc_info is not None:
            assert not isinstance(other.exc_info[1], InjectedFault), other.name


def request_events(monitor: PerformanceMonitor) -> list[RequestEvent]:
    """Return the requests the monitor recorded."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, RequestEvent)]


# -- the collector ----------------------------------------------------------------

# The collector methods a request with queries, scopes, a timed block and
# memory probes passes through. An ordinary timed block waits in its
# thread's log and is added with the others (_add_records); record_operation
# takes the blocks that fail, so only the test with a failing block has it.
COLLECTOR_SEAMS = [
    "request_ended",
    "record_request",
    "record_query",
    "_add_records",
    "record_memory",
    "memory_block_opened",
    "memory_block_closed",
    "scope_opened",
    "scope_closed",
]


@pytest.mark.parametrize("path", ["/work/", "/async-work/"])
@pytest.mark.parametrize("seam", COLLECTOR_SEAMS)
def test_fault_collector_failure_leaves_every_answer_unchanged(
    monkeypatch: pytest.MonkeyPatch,
    errors: Callable[[], list[logging.LogRecord]],
    seam: str,
    path: str,
) -> None:
    """With one collector method broken, each answer equals the one without."""
    expected = [answer(path) for _ in range(REPEATS)]
    assert errors() == []

    monkeypatch.setattr(Collector, seam, broken)
    got = [answer(path) for _ in range(REPEATS)]

    assert got == expected
    assert_each_kind_logged_once(errors())


@pytest.mark.parametrize(
    "seam",
    # The view that fails opens no scope of its own, and the middleware
    # opens the request's without scope_opened (it sets the tracker).
    [s for s in COLLECTOR_SEAMS if s not in ("_add_records", "scope_opened")]
    + ["record_operation"],
)
def test_fault_collector_failure_keeps_the_view_exception(
    monkeypatch: pytest.MonkeyPatch,
    errors: Callable[[], list[logging.LogRecord]],
    seam: str,
) -> None:
    """With one collector method broken, the view's own exception reaches the caller."""
    monkeypatch.setattr(Collector, seam, broken)
    for _ in range(REPEATS):
        with pytest.raises(LookupError) as caught:
            Client().get("/fails/")
        assert caught.value is fault_urls.raised[-1]
    assert_each_kind_logged_once(errors())


@pytest.mark.parametrize(
    "seam",
    [s for s in COLLECTOR_SEAMS if s not in ("request_ended", "record_request")]
    # The fold of raw queries: those outside the memory block below wait.
    + ["record_operation", "_add_queries"],
)
def test_fault_collector_failure_leaves_probes_transparent(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    errors: Callable[[], list[logging.LogRecord]],
    seam: str,
) -> None:
    """Outside requests too, timed, tracked and scoped code returns and raises as is."""
    monkeypatch.setattr(Collector, seam, broken)
    for _ in range(REPEATS):
        assert fault_urls.double(4) == 8
        assert fault_urls.select_values([11, 13]) == [11, 13]
        mine = ValueError("the user's own")
        with pytest.raises(ValueError) as caught:
            with (
                fresh_monitor.scope("outer"),
                fresh_monitor.measure_execution_time("block"),
                fresh_monitor.track_memory_usage("memory"),
            ):
                # A query in an open memory block is added at once
                # (record_query); those above wait for the fold.
                assert fault_urls.select_values([17]) == [17]
                raise mine
        assert caught.value is mine
    assert_each_kind_logged_once(errors())


def test_fault_a_block_whose_close_fails_is_not_left_open(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    errors: Callable[[], list[logging.LogRecord]],
) -> None:
    """A failed close still forgets the block: left open, it would stay for good."""
    monkeypatch.setattr(Collector, "memory_block_closed", broken)
    with fresh_monitor.track_memory_usage("memory"):
        pass
    assert fresh_monitor.collector._activity.open_blocks == []
    assert_each_kind_logged_once(errors())


def test_fault_collector_failure_in_snapshot_is_a_plain_500_of_the_report_only(
    monkeypatch: pytest.MonkeyPatch, errors: Callable[[], list[logging.LogRecord]]
) -> None:
    """A broken snapshot fails the live report alone; the app answers as before."""
    expected = answer("/work/")
    monkeypatch.setattr(Collector, "snapshot", broken)

    for _ in range(REPEATS):
        for url in ("/perfprobe/", "/perfprobe/report.json"):
            status, body, content_type, _ = answer(url, **AUTH)
            assert (status, content_type) == (500, "text/plain; charset=utf-8")
            assert b"Traceback" not in body and b"injected" not in body
        assert answer("/work/") == expected
    assert_each_kind_logged_once(errors())


# -- renderers ----------------------------------------------------------------------

RENDERER_SEAMS = [
    ("perfprobe.views.render_html", "/perfprobe/"),
    ("perfprobe.report.html.draw_charts", "/perfprobe/"),
    ("perfprobe.report.html.chart_data", "/perfprobe/"),
    ("perfprobe.report.model.Report.to_dict", "/perfprobe/report.json"),
]


@pytest.mark.parametrize(("seam", "url"), RENDERER_SEAMS)
def test_fault_renderer_failure_fails_only_the_report(
    monkeypatch: pytest.MonkeyPatch,
    errors: Callable[[], list[logging.LogRecord]],
    seam: str,
    url: str,
) -> None:
    """A broken HTML or JSON renderer gives a plain 500; the app is unchanged."""
    expected = [answer("/work/") for _ in range(REPEATS)]
    monkeypatch.setattr(seam, broken)

    got = []
    for _ in range(REPEATS):
        status, body, _, _ = answer(url, **AUTH)
        assert status == 500
        assert b"Traceback" not in body and b"injected" not in body
        got.append(answer("/work/"))

    assert got == expected
    assert_each_kind_logged_once(errors())


# -- exporters ----------------------------------------------------------------------


class _BrokenLabels:
    """A metric whose every use raises, as a broken metrics library would."""

    def labels(self, **labels: str) -> Any:
        raise InjectedFault("metric broken")

    def set(self, value: float) -> None:
        raise InjectedFault("metric broken")


def broken_prometheus() -> PrometheusExporter:
    """Return a Prometheus exporter whose metrics all raise."""
    exporter = PrometheusExporter(CollectorRegistry(), enabled=lambda: True)
    for name in (
        "request_duration",
        "queries",
        "query_duration",
        "n_plus_one",
        "duplicates",
        "resident_memory",
    ):
        setattr(exporter.metrics, name, _BrokenLabels())
    return exporter


class _FailingProcessor(SpanProcessor):
    """A span processor that fails when spans start or end, as a bad exporter."""

    def __init__(self, when: str) -> None:
        self.when = when

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        if self.when == "start":
            raise InjectedFault("span processor broken on start")

    def on_end(self, span: ReadableSpan) -> None:
        if self.when == "end":
            raise InjectedFault("span processor broken on end")


@pytest.fixture
def break_exporter(
    fresh_monitor: PerformanceMonitor,
) -> Iterator[Callable[[str], None]]:
    """Return a function that breaks one exporter; everything is undone after."""
    undo: list[Callable[[], None]] = []

    def use(fault: str) -> None:
        collector = fresh_monitor.collector
        if fault == "listeners":
            # Any exporter plugged in as a listener, failing on every item.
            collector.add_listener(broken)
            collector.add_scope_listener(broken)
            undo.append(lambda: collector.remove_listener(broken))
            undo.append(lambda: collector.remove_scope_listener(broken))
        elif fault == "prometheus":
            exporter = broken_prometheus()
            exporter.attach(collector)
            undo.append(exporter.detach)
        else:
            provider = TracerProvider()
            provider.add_span_processor(_FailingProcessor(fault.split("-")[1]))
            provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
            tracing.use_tracer_provider(provider)
            undo.append(provider.shutdown)
            undo.append(lambda: tracing.use_tracer_provider(None))

    yield use
    for step in reversed(undo):
        step()


EXPORTER_FAULTS = ["listeners", "prometheus", "otel-start", "otel-end"]


@pytest.mark.parametrize("path", ["/work/", "/async-work/"])
@pytest.mark.parametrize("fault", EXPORTER_FAULTS)
def test_fault_exporter_failure_leaves_every_answer_unchanged(
    fresh_monitor: PerformanceMonitor,
    errors: Callable[[], list[logging.LogRecord]],
    break_exporter: Callable[[str], None],
    fault: str,
    path: str,
) -> None:
    """A broken exporter (listener, Prometheus, OpenTelemetry) changes no answer."""
    expected = [answer(path) for _ in range(REPEATS)]
    assert errors() == []

    break_exporter(fault)
    got = [answer(path) for _ in range(REPEATS)]

    assert got == expected
    assert_each_kind_logged_once(errors())
    # The monitor itself kept recording through the exporter's failures.
    assert len(request_events(fresh_monitor)) == 2 * REPEATS


@pytest.mark.parametrize("fault", EXPORTER_FAULTS)
def test_fault_exporter_failure_keeps_the_view_exception(
    errors: Callable[[], list[logging.LogRecord]],
    fresh_monitor: PerformanceMonitor,
    break_exporter: Callable[[str], None],
    fault: str,
) -> None:
    """A broken exporter leaves the view's own exception as the view raised it."""
    break_exporter(fault)
    for _ in range(REPEATS):
        with pytest.raises(LookupError) as caught:
            Client().get("/fails/")
        assert caught.value is fault_urls.raised[-1]
    assert_each_kind_logged_once(errors())


# -- the application's own database failures ---------------------------------------


def user_frames(exc: BaseException) -> list[tuple[str, str, int | None]]:
    """Return the traceback's frames outside perfprobe: file, function, line."""
    return [
        (frame.filename, frame.name, frame.lineno)
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(PERFPROBE_DIR)
    ]


def failing_request(path: str) -> BaseException:
    """GET ``path``, which must raise; return the exception the client re-raised."""
    try:
        with pytest.raises(Exception) as caught:
            Client().get(path)
    finally:
        # The lost connection's wrapper must start afresh.
        connections.close_all()
    return caught.value


DB_FAULTS = ["/db-error/", "/lost-connection/", "/statement-timeout/"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", DB_FAULTS)
def test_fault_database_failure_is_recorded_and_reaches_the_view_unchanged(
    fresh_monitor: PerformanceMonitor, path: str
) -> None:
    """The database's own error is recorded and is the very object the view saw.

    Its type, message and traceback (apart from perfprobe's own frames) are
    those of the same request served with perfprobe switched off.
    """
    got = failing_request(path)
    seen = fault_urls.raised[-1]
    assert got is seen

    error_type = error_type_name(type(seen))
    (event,) = request_events(fresh_monitor)
    assert (event.status, event.error_type) == (500, error_type)
    snapshot = fresh_monitor.collector.snapshot()
    failed = [
        e
        for e in snapshot.recent_events
        if isinstance(e, QueryEvent) and e.error_type is not None
    ]
    assert [e.error_type for e in failed] == [error_type]
    assert sorted(e.source for e in snapshot.errors) == ["query", "request"]

    with override_settings(PERFPROBE={"ENABLED": False}):
        plain = failing_request(path)

    assert type(plain) is type(seen)
    assert str(plain) == str(seen)
    assert user_frames(plain) == user_frames(seen)
    assert len(request_events(fresh_monitor)) == 1


def test_fault_database_failure_outside_a_request_is_unchanged(
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """A failing query in plain code raises the same error as unmonitored, recorded."""
    sql = "SELECT no_such_column FROM no_such_table"
    # Each in a savepoint: on PostgreSQL a failed statement aborts the
    # test's transaction, and the second would fail for that reason instead.
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    with override_settings(PERFPROBE={"ENABLED": False}):
        with pytest.raises(DatabaseError) as plain, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)

    (query,) = [q for q in recorded_queries() if "no_such_table" in q.fingerprint]
    assert query.error_type == error_type_name(type(caught.value))
    assert type(caught.value) is type(plain.value)
    assert str(caught.value) == str(plain.value)
    assert type(caught.value.__cause__) is type(plain.value.__cause__)
    # The same frames, apart from perfprobe's, and the same place of the raise.
    mine, theirs = user_frames(caught.value), user_frames(plain.value)
    assert [f[:2] for f in mine] == [f[:2] for f in theirs]
    assert mine[-1] == theirs[-1]
