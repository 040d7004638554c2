"""Shared fixtures: every test starts with an empty default monitor."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from apps.shop.latency import set_latency_scale
from perfprobe import PerformanceMonitor, monitor, tracing
from perfprobe.db import installer, instrument
from perfprobe.events import QueryEvent
from perfprobe.listeners import ListenerList
from perfprobe.prometheus import runtime as prometheus_runtime


@pytest.fixture(autouse=True)
def no_injected_latency() -> Iterator[None]:
    """Scale the shop's nominal latencies to zero, then follow the setting again.

    Tests that need the latencies set their own scale.
    """
    set_latency_scale(0.0)
    yield
    set_latency_scale(None)


@pytest.fixture(autouse=True)
def no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Print plain-text reports at their default 120 columns in every test.

    A shell or CI that exports COLUMNS would otherwise set the width; tests
    of COLUMNS set it themselves.
    """
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(autouse=True)
def fresh_monitor() -> Iterator[PerformanceMonitor]:
    """Reset the process-wide monitor before and after each test."""
    monitor.reset()
    monitor.time_scale = 1.0
    yield monitor
    left_open = abandon_open_blocks(monitor)
    collector = monitor.collector
    # Each kind of listener turns a fast path off for the rest of the suite.
    kinds: dict[ListenerList[Any], Callable[[Any], None]] = {
        collector._listeners: collector.remove_listener,
        collector._request_listeners: collector.remove_request_listener,
        collector._query_batch_listeners: collector.remove_query_batch_listener,
        collector._finding_listeners: collector.remove_scope_listener,
    }
    listeners = [item for kind in kinds for item in kind.items]
    if listeners:
        # Cleaned up before the assertion, so only the leaking test fails.
        prometheus_runtime.uninstall()
        for kind, remove in kinds.items():
            for listener in kind.items:
                remove(listener)
    monitor.reset()
    monitor.time_scale = 1.0
    # Open memory blocks outlive a reset and send every later query in the
    # process down the eager path (so do listeners): a test that leaves
    # either hides the raw query path from the rest of the suite.
    assert not left_open, f"the test left memory blocks open: {left_open}"
    assert not listeners, f"the test left listeners on the collector: {listeners}"


def abandon_open_blocks(monitor: PerformanceMonitor) -> list[str]:
    """Stop tracking every memory block still open; return their names."""
    collector = monitor.collector
    blocks = list(collector._activity.open_blocks)
    for block in blocks:
        collector.memory_block_abandoned(block)
    return [block.label for block in blocks]


@pytest.fixture
def recorded_queries(
    fresh_monitor: PerformanceMonitor,
) -> Callable[[], list[QueryEvent]]:
    """Return a function listing the queries the default monitor has recorded."""

    def queries() -> list[QueryEvent]:
        events = fresh_monitor.collector.snapshot().recent_events
        return [event for event in events if isinstance(event, QueryEvent)]

    return queries


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """Capture perfprobe's spans in memory, through a provider of the test's own.

    The global provider is left alone (it can be set once per process), so
    no other test sees tracing.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)
    provider.shutdown()


@pytest.fixture(params=["c-recorder", "python-recorder"])
def each_recorder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the C recorder, then with the Python recorder.

    The C one where it is built (not under ``PERFPROBE_PURE_PYTHON``): it
    is ``instrument.recorder`` then, and the Python one is swapped in, on
    the connections instrumented and for the test's new ones, by
    reinstalling.
    """
    original = instrument.recorder
    if request.param == "c-recorder":
        if original is instrument.python_recorder:
            # Used with the C Walker only, which is built on CPython 3.11.
            on_311 = sys.version_info[:2] == (3, 11)
            if os.environ.get("PERFPROBE_REQUIRE_EXTENSION") and on_311:
                pytest.fail("PERFPROBE_REQUIRE_EXTENSION is set: the C recorder is not")
            pytest.skip("the C recorder is not built (or PERFPROBE_PURE_PYTHON is set)")
        yield "c"
        return
    installed = installer.is_installed()
    installer.uninstall()
    instrument.recorder = instrument.python_recorder
    try:
        if installed:
            installer.install()
        yield "python"
    finally:
        installed = installer.is_installed()
        installer.uninstall()
        instrument.recorder = original
        if installed:
            installer.install()
