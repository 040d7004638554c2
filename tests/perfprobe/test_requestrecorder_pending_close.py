"""Tests for perfprobe.requestrecorder: a waiting scope closes as it would at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.conf import PerfprobeSettings
from perfprobe.threadlog import BATCH_SIZE

from .report_factories import memory_block
from .test_requestrecorder_pending import (
    SITES,
    SQL_C,
    capture_scope,
    end_request,
    n_plus_one,
    open_request,
    test_urls,
)

__all__ = ["test_urls"]


def test_a_waiting_scope_closes_with_the_thresholds_of_its_request() -> None:
    """Thresholds of the request's end (N+1 from 3, duplicates from 4), not the read's.

    Four queries of one statement with distinct parameters and two identical
    ones: an N+1 of 4 and no duplicate then, the other way round at the
    defaults (N+1 from 5, duplicates from 2).
    """
    current = [PerfprobeSettings(N_PLUS_ONE_MIN_QUERIES=3, DUPLICATE_MIN_QUERIES=4)]
    collector = Collector(lambda: current[0])
    scope = open_request(collector, "/a/")
    repeated = [(SQL_C, 0, 1 / 64, SITES[1])] * 2
    end_request(collector, scope, "/a/", n_plus_one(4) + repeated)
    assert collector._pending  # the close waits

    current[0] = PerfprobeSettings()

    summary = scope.summary
    assert [(f.count, f.distinct_params) for f in summary.n_plus_one] == [(4, 4)]
    assert summary.duplicates == ()
    snapshot = collector.snapshot()
    assert [f["count"] for f in snapshot.n_plus_one_totals] == [4]
    assert snapshot.duplicate_totals == []


@pytest.mark.django_db
def test_a_request_under_override_settings_is_judged_by_them(
    fresh_monitor: PerformanceMonitor,
    test_urls: None,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    """A test lowers the N+1 threshold to 3 around a view of 4 queries: found."""
    seen: list[Any] = capture_scope(monkeypatch)

    with override_settings(PERFPROBE={"N_PLUS_ONE_MIN_QUERIES": 3}):
        assert Client().get("/count/4/").status_code == 200

    report = fresh_monitor.generate_report()
    assert [f["count"] for f in report.n_plus_one["aggregated"]] == [4]
    (scope,) = seen
    assert [f.count for f in scope.summary.n_plus_one] == [4]


def test_a_block_opened_after_waiting_requests_is_not_marked_by_their_close() -> None:
    """The requests ended before the block opened: it stays this thread's own.

    An empty request queued behind a waiting one was added at the batch's
    close as if it ended then, marking every block open at that time.
    """
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(3))
    end_request(collector, open_request(collector, "/b/"), "/b/", [])
    assert len(collector._pending) == 2
    block = memory_block("import", 1024)
    assert block.thread_id != 7  # the requests' thread (end_request)
    collector.memory_block_opened(block)

    snapshot = collector.snapshot()

    assert [s.query_count for s in snapshot.scopes] == [3, 0]
    assert block.process_wide is False


def test_timer_blocks_folded_after_a_waiting_request_come_after_it() -> None:
    """A thread's full log of blocks that ran after the request: events in order.

    The fold of a full log of timer blocks added them to the recent events
    before the waiting request's queries and event, which ended first.
    """
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(3))
    log = collector.thread_logs.register()
    for index in range(BATCH_SIZE):
        log.records.append(("render", 1 / 64, 1_000.0 + index, None, None, log))

    collector.fold_thread_log(log)

    kinds = [type(e).__name__ for e in collector.snapshot().recent_events]
    assert kinds == ["QueryEvent"] * 3 + ["RequestEvent"] + ["OperationEvent"] * 256
