"""Tests for the C loop of the query fold (``_fold.fold_groups``) against Python.

Durations are multiples of 1/1024, so that every sum is exact.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from perfprobe import nplusone, querylog
from perfprobe.collector import Collector
from perfprobe.db.fingerprint import fingerprint
from perfprobe.events import RAW_ALIAS, RAW_LAZY_LOAD, RAW_SCOPE, LazyLoad, QueryEvent

from .extensions import needs_extension
from .test_fold_settle import event_items
from .test_requestrecorder_pending import (
    SITES,
    SQL_A,
    SQL_B,
    SQL_C,
    end_request,
    open_request,
    play,
    raw_query,
    workload,
)

try:
    from perfprobe._fold import fold_groups as c_fold_groups
except ImportError:  # pragma: no cover - depends on the build
    c_fold_groups = None

needs_c = needs_extension(c_fold_groups, "the C extension perfprobe._fold")
LOAD = LazyLoad("Order", "customer", "forward foreign key", 'select_related("c")')


def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Put a wrapper around the C loop that counts the groups it folded.

    The C settling and the C common case it needs are put in too, so that
    it runs even where ``PERFPROBE_PURE_PYTHON`` turned them off.
    """
    from perfprobe import _fold

    monkeypatch.setattr(querylog, "_settle_group", _fold.settle_group)
    monkeypatch.setattr(nplusone, "_add_new_run", _fold.add_new_run)
    folded = {"groups": 0}

    def fold_groups(groups: list[Any], start: int, *rest: Any) -> int:
        assert c_fold_groups is not None
        end: int = c_fold_groups(groups, start, *rest)
        folded["groups"] += end - start
        return end

    monkeypatch.setattr(querylog, "_fold_groups", fold_groups)
    return folded


def in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the C loop and the C common case of a scope's analysis off."""
    monkeypatch.setattr(querylog, "_fold_groups", None)
    monkeypatch.setattr(nplusone, "_add_new_run", None)


def query_events(collector: Collector) -> list[tuple[Any, ...]]:
    """Return what each recent query event says, the hashes included."""
    return [
        (*event_items(e), e.lazy_load)
        for e in collector.snapshot().recent_events
        if isinstance(e, QueryEvent)
    ]


@needs_c
@pytest.mark.parametrize("seed", range(12))
def test_reports_are_the_same_with_the_c_loop_and_without(
    seed: int, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Random requests, user scopes, eager queries and reads: the same report."""
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 5000}
    steps = workload(seed)
    collectors = [Collector(), Collector()]
    folded = counting(monkeypatch)
    with_c = play(collectors[0], steps)
    in_python(monkeypatch)
    without = play(collectors[1], steps)

    assert with_c == without
    assert query_events(collectors[0]) == query_events(collectors[1])
    assert with_c["closed"] >= 20
    assert folded["groups"] > 0


def mixed_requests(collector: Collector) -> None:
    """End requests whose groups the C loop must leave to Python, among others."""
    for round_ in range(6):
        scope = open_request(collector, "/a/")
        queries = [(SQL_A, round_ * 100 + n, 1 / 64, SITES[0]) for n in range(12)]
        queries += [(SQL_B, 7, 1 / 32, SITES[1])] * 3
        queries += [(SQL_C, n, 1 / 16, SITES[0]) for n in range(round_ + 1)]
        queries += [(f"SELECT {round_} FROM t", 1, 1 / 8, SITES[1])]
        end_request(collector, scope, "/a/", queries)
        log = collector.thread_logs.register()
        # Another connection's alias, a lazy load, and no scope at all.
        other = raw_query(scope, SQL_A, 5, 1 / 4)
        other[RAW_ALIAS] = "replica"
        log.queries.append(other)
        lazy = raw_query(scope, SQL_B, 9, 1 / 4, SITES[1])
        lazy[RAW_LAZY_LOAD] = LOAD
        log.queries.append(lazy)
        loose = raw_query(None, SQL_C, 3, 1 / 2)
        loose[RAW_SCOPE] = None
        log.queries.append(loose)


@needs_c
def test_groups_left_to_python_keep_their_order_and_results(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """New shapes, two aliases, no scope, repeats: the same report either way."""
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 5000}
    collectors = [Collector(), Collector()]
    folded = counting(monkeypatch)
    mixed_requests(collectors[0])
    with_c = play(collectors[0], [])
    in_python(monkeypatch)
    mixed_requests(collectors[1])
    without = play(collectors[1], [])

    assert with_c == without
    assert query_events(collectors[0]) == query_events(collectors[1])
    assert with_c["outside"] == 6
    assert folded["groups"] > 10


@pytest.mark.parametrize("in_c", [True, False])
def test_a_group_that_fails_is_lost_alone_and_logged(
    in_c: bool,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fingerprint that raises for SQL_B: its queries lost, each time logged."""
    if in_c and c_fold_groups is None:
        pytest.skip("the C extension perfprobe._fold is not built")
    if not in_c:
        in_python(monkeypatch)
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 5000}

    def failing(sql: str, vendor: str | None = None) -> str:
        if sql == SQL_B:
            raise RuntimeError("no shape")
        return fingerprint(sql, vendor)

    monkeypatch.setattr(querylog, "fingerprint", failing)
    caplog.set_level(logging.DEBUG, logger="perfprobe.collector")
    collector = Collector()
    for _ in range(2):
        scope = open_request(collector, "/a/")
        queries = [(SQL_A, n, 1 / 64, SITES[0]) for n in range(5)]
        queries += [(SQL_B, n, 1 / 64, SITES[0]) for n in range(3)]
        queries += [(SQL_A, n, 1 / 64, SITES[1]) for n in range(2)]
        end_request(collector, scope, "/a/", queries)

    snapshot = collector.snapshot()

    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 14
    assert [s.query_count for s in snapshot.scopes] == [7, 7]
    assert sum(q["stats"].count for q in snapshot.queries.values()) == 14
    failures = [r for r in caplog.records if "failed to add queries" in r.message]
    assert len(failures) == 2
