"""Fault injection in the exporters: listeners, Prometheus and OpenTelemetry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from prometheus_client import CollectorRegistry

from perfprobe import PerformanceMonitor, tracing
from perfprobe.prometheus.exporter import PrometheusExporter

from . import fault_urls, faults
from .faults import (
    REPEATS,
    InjectedFault,
    answer,
    assert_each_kind_logged_once,
    broken,
    request_events,
)

pytestmark = pytest.mark.django_db

# The fixtures every fault test uses: the fault views (autouse) and the
# records logged at ERROR.
fault_urls_on = faults.fault_urls_on
errors = faults.errors


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
