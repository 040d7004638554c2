"""Tests for perfprobe.requestrecorder: a waiting scope closes as it would at once."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.test import Client, override_settings
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.conf import PerfprobeSettings
from perfprobe.events import QueryEvent
from perfprobe.requestscope import RequestScope
from perfprobe.threadlog import BATCH_SIZE

from .report_factories import memory_block
from .test_requestrecorder_pending import (
    SITES,
    SQL_A,
    SQL_B,
    SQL_C,
    Step,
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


# -- random workloads with settings, timer blocks and memory blocks ---------


def mixed_workload(seed: int) -> list[Step]:
    """Return requests mixed with threshold changes, timer blocks, memory blocks."""
    rng = random.Random(seed)
    steps: list[Step] = []
    block_open = False
    for _ in range(rng.randint(30, 90)):
        kind = rng.random()
        if kind < 0.1:
            steps.append(("settings", (rng.randint(2, 8), rng.randint(2, 4))))
        elif kind < 0.2 and not block_open:
            steps.append(("timers", rng.choice((1, 40, 255, 300))))
        elif kind < 0.27:
            steps.append(("block", None))
            block_open = not block_open
        elif kind < 0.32:
            steps.append(("read", None))
        else:
            # Raw queries only where the recorder leaves them raw: no block
            # open.
            queries = []
            for _ in range(0 if block_open else rng.choice((0, 1, 2))):
                sql = rng.choice((SQL_A, SQL_B, SQL_C))
                repeat = rng.random() < 0.3
                for index in range(rng.choice((1, 2, 3, 6, 40))):
                    params = 0 if repeat else index
                    queries.append((sql, params, rng.randint(1, 64) / 1024, SITES[0]))
            steps.append(("request", (rng.choice(("/a/", "/b/")), queries)))
    return steps


def mixed_play(steps: list[Step]) -> dict[str, Any]:
    """Run ``steps`` in a new collector; return the read, queries' order aside."""
    current = [PerfprobeSettings(RECENT_EVENTS_SIZE=5000)]
    collector = Collector(lambda: current[0])
    blocks: list[Any] = []
    for kind, arg in steps:
        if kind == "request":
            route, queries = arg
            end_request(collector, open_request(collector, route), route, queries)
        elif kind == "settings":
            current[0] = PerfprobeSettings(
                RECENT_EVENTS_SIZE=5000,
                N_PLUS_ONE_MIN_QUERIES=arg[0],
                DUPLICATE_MIN_QUERIES=arg[1],
            )
        elif kind == "timers":
            log = collector.thread_logs.register()
            for index in range(arg):
                log.records.append(("render", 1 / 64, float(index), None, None, log))
                if len(log.records) >= BATCH_SIZE:
                    collector.fold_thread_log(log)
        elif kind == "block":
            if blocks and blocks[-1].open:
                collector.memory_block_closed(blocks[-1])
            else:
                blocks.append(memory_block(f"block {len(blocks)}", 1024))
                collector.memory_block_opened(blocks[-1])
        else:
            collector.snapshot()
    if blocks and blocks[-1].open:
        collector.memory_block_closed(blocks[-1])
    snapshot = collector.snapshot()
    return {
        "scopes": [
            (s.name, s.query_count, s.n_plus_one, s.duplicates) for s in snapshot.scopes
        ],
        "n_plus_one": snapshot.n_plus_one_totals,
        "duplicates": snapshot.duplicate_totals,
        "process_wide": [block.process_wide for block in blocks],
        # A batch's queries come before its requests (documented); every
        # other event keeps its place.
        "events": [
            (type(e).__name__, getattr(e, "route", None), getattr(e, "name", None))
            for e in snapshot.recent_events
            if not isinstance(e, QueryEvent)
        ],
    }


@pytest.mark.parametrize("seed", range(30))
def test_mixed_workloads_read_as_closing_each_scope_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thresholds changed, timer logs folded, blocks opened: the same read."""
    steps = mixed_workload(seed)
    waiting = mixed_play(steps)
    monkeypatch.setattr(RequestScope, "may_wait", False)
    at_once = mixed_play(steps)

    assert waiting == at_once
    assert len(waiting["scopes"]) >= 10
