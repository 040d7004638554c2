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
from collections.abc import Callable

import pytest
from django.test import Client

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector

from . import fault_urls, faults
from .faults import (
    AUTH,
    REPEATS,
    answer,
    assert_each_kind_logged_once,
    broken,
)

pytestmark = pytest.mark.django_db

# The fixtures every fault test uses: the fault views (autouse) and the
# records logged at ERROR.
fault_urls_on = faults.fault_urls_on
errors = faults.errors


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
