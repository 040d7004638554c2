"""Tests for perfprobe.requestrecorder: request scopes whose close waits."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.aggregates import ScopeSummary
from perfprobe.collector import Collector
from perfprobe.events import (
    RAW_ALIAS,
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_PARAMS_HASH,
    RAW_SCOPE,
    RAW_SQL,
    RAW_SQL_HASH,
    RAW_STARTED_AT,
    RAW_THREAD_ID,
    RAW_VENDOR,
    RequestEvent,
)
from perfprobe.pendingscopes import PENDING_QUERIES, PENDING_SCOPES
from perfprobe.querylog import QUERY_BATCH
from perfprobe.rawrecords import RAW_LENGTH
from perfprobe.requestscope import RequestScope
from perfprobe.scope import get_current_scope

from . import middleware_urls
from .report_factories import query, raw_request

SQL_A = "SELECT * FROM customer WHERE id = %s"
SQL_B = "SELECT * FROM product WHERE id = %s"
SQL_C = "SELECT COUNT(*) FROM orders"
SITES = ("app/views.py:10", "app/views.py:20")


def raw_query(
    scope: Any, sql: str, params_hash: int, duration_s: float, site: str = SITES[0]
) -> list[Any]:
    """Return a raw query record as the recorder leaves it in the thread's log."""
    record: list[Any] = [None] * RAW_LENGTH
    record[RAW_ALIAS] = "default"
    record[RAW_VENDOR] = "sqlite"
    record[RAW_SQL] = sql
    record[RAW_DURATION_S] = duration_s
    record[RAW_STARTED_AT] = 1_000.0
    record[RAW_THREAD_ID] = 7
    record[RAW_SCOPE] = scope
    record[RAW_CALL_SITE] = site
    record[RAW_PARAMS_HASH] = params_hash
    # The fold puts the SQL hash in, once per statement.
    record[RAW_SQL_HASH] = None
    record[RAW_BULK_CALL] = 0
    return record


def open_request(collector: Collector, route: str) -> RequestScope:
    """Open a request's scope in ``collector``, named as the middleware names it."""
    scope = RequestScope(None, 1_000.0, 0, None)
    scope.name = f"GET {route}"
    collector.scope_opened(scope)
    return scope


def end_request(
    collector: Collector,
    scope: RequestScope,
    route: str,
    queries: list[tuple[str, int, float, str]],
    status: int = 200,
    values: tuple[float, float, int, str | None] = (0.5, 1_000.0, 7, None),
) -> None:
    """Leave ``queries`` raw in this thread's log for ``scope``, then end it.

    ``values`` are the request's duration, start, thread id and query string.
    """
    log = collector.thread_logs.register()
    for sql, params_hash, duration_s, site in queries:
        log.queries.append(raw_query(scope, sql, params_hash, duration_s, site))
    duration_s, started_at, thread_id, query_string = values
    raw = raw_request(
        scope, route, status, duration_s, started_at, thread_id, query_string
    )
    collector.request_ended(scope, raw)


def n_plus_one(count: int, sql: str = SQL_A) -> list[tuple[str, int, float, str]]:
    """Return ``count`` queries of one statement from one line, distinct parameters."""
    return [(sql, index, 1 / 64, SITES[0]) for index in range(count)]


def test_a_request_scope_with_only_raw_queries_waits_until_read() -> None:
    """Its summary, when read, holds the 12 queries and the N+1 of 12."""
    collector = Collector()
    scope = open_request(collector, "/a/")

    end_request(collector, scope, "/a/", n_plus_one(12))

    assert [item[0] for item in collector._pending] == [scope]
    assert collector._scopes.closed_count == 0
    summary = scope.summary
    assert isinstance(summary, ScopeSummary)
    assert summary.query_count == 12
    assert summary.query_time_s == 12 / 64
    assert [(f.count, f.distinct_params) for f in summary.n_plus_one] == [(12, 12)]
    # Read once: the batch is closed, and the summary stays.
    assert collector._pending == []
    assert collector._scopes.closed_count == 1
    assert scope.summary is summary


def test_a_snapshot_between_requests_sees_every_waiting_scope() -> None:
    """Three waiting requests of 5, 6 and 7 queries: all counted by the read."""
    collector = Collector()
    for count in (5, 6, 7):
        end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(count))
    assert len(collector._pending) == 3

    snapshot = collector.snapshot()

    assert snapshot.scopes_closed == 3
    assert [s.query_count for s in snapshot.scopes] == [5, 6, 7]
    endpoint = snapshot.endpoints[("GET", "/a/")]
    assert endpoint["stats"].count == 3
    assert endpoint["query_counts"].total == 18
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 18
    assert snapshot.query_total.total == 18 / 64
    (finding,) = snapshot.n_plus_one_totals
    assert finding["count"] == 18
    requests = [e for e in snapshot.recent_events if isinstance(e, RequestEvent)]
    assert [e.query_count for e in requests] == [5, 6, 7]


def test_waiting_scopes_and_their_queries_stay_bounded() -> None:
    """Past PENDING_SCOPES requests, or PENDING_QUERIES queries, the batch closes."""
    collector = Collector()
    log = collector.thread_logs.register()
    most_waiting = most_queries = 0
    for _ in range(5 * PENDING_SCOPES):
        end_request(collector, open_request(collector, "/one/"), "/one/", n_plus_one(1))
        most_waiting = max(most_waiting, len(collector._pending))
    for _ in range(20):
        end_request(collector, open_request(collector, "/n/"), "/n/", n_plus_one(51))
        most_waiting = max(most_waiting, len(collector._pending))
        most_queries = max(most_queries, len(log.queries))

    assert most_waiting == PENDING_SCOPES - 1
    # 51 queries a request: the fourth's end (204) closes the batch.
    assert most_queries == 3 * 51 < PENDING_QUERIES < QUERY_BATCH
    assert collector.snapshot().scopes_closed == 5 * PENDING_SCOPES + 20


def test_a_scope_closed_in_its_batch_takes_no_more_records() -> None:
    """A query recorded in a request scope after its batch closed opens no state."""
    collector = Collector()
    scope = open_request(collector, "/a/")
    end_request(collector, scope, "/a/", n_plus_one(5))
    assert len(collector._pending) == 1

    collector.close_pending()
    collector.record_query(query(SQL_C, 1 / 64, call_site=SITES[1]), scope)

    assert scope.tracker is None
    assert scope.id not in collector._scopes.states
    assert [s.query_count for s in collector.snapshot().scopes] == [5]


def test_a_quiet_request_after_a_waiting_one_keeps_its_place() -> None:
    """A request with no query, and one not opened here, wait behind the first."""
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(3))
    end_request(collector, open_request(collector, "/quiet/"), "/quiet/", [])
    other = RequestScope(None, 1_000.0, 0, None)
    end_request(collector, other, "/elsewhere/", [])
    assert len(collector._pending) == 3

    snapshot = collector.snapshot()

    assert [s.name for s in snapshot.scopes] == ["GET /a/", "GET /quiet/"]
    assert [s.query_count for s in snapshot.scopes] == [3, 0]
    assert list(snapshot.endpoints) == [
        ("GET", "/a/"),
        ("GET", "/quiet/"),
        ("GET", "/elsewhere/"),
    ]
    requests = [e for e in snapshot.recent_events if isinstance(e, RequestEvent)]
    assert [e.route for e in requests] == ["/a/", "/quiet/", "/elsewhere/"]


def test_quiet_requests_that_wait_come_before_the_queries_after_them() -> None:
    """Quiet, then a waiting scope with queries, then quiet: read in end order."""
    collector = Collector()
    end_request(collector, open_request(collector, "/q1/"), "/q1/", [])
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(2))
    end_request(collector, open_request(collector, "/q2/"), "/q2/", [])

    snapshot = collector.snapshot()

    kinds = [
        e.route if isinstance(e, RequestEvent) else type(e).__name__
        for e in snapshot.recent_events
    ]
    assert kinds == ["/q1/", "QueryEvent", "QueryEvent", "/a/", "/q2/"]
    assert [(s.name, s.query_count) for s in snapshot.scopes] == [
        ("GET /q1/", 0),
        ("GET /a/", 2),
        ("GET /q2/", 0),
    ]
    assert list(snapshot.endpoints) == [
        ("GET", "/q1/"),
        ("GET", "/a/"),
        ("GET", "/q2/"),
    ]


def test_a_dropped_scope_s_queries_come_after_the_quiet_requests_before_it() -> None:
    """An unmonitored view's earlier queries, folded as it is dropped: after /q/."""
    collector = Collector()
    end_request(collector, open_request(collector, "/q/"), "/q/", [])
    dropped = open_request(collector, "/unmonitored/")
    log = collector.thread_logs.register()
    log.queries.append(raw_query(dropped, SQL_C, 0, 0.25))

    collector.scope_discarded(dropped)

    kinds = [type(e).__name__ for e in collector.snapshot().recent_events]
    assert kinds == ["RequestEvent", "QueryEvent"]


def test_a_request_that_cannot_wait_closes_the_waiting_ones_first() -> None:
    """A 500 after two waiting requests: the history keeps the order they ended."""
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(2))
    end_request(collector, open_request(collector, "/b/"), "/b/", n_plus_one(4))
    failing = open_request(collector, "/c/")
    end_request(collector, failing, "/c/", n_plus_one(3), status=500)

    assert collector._pending == []
    snapshot = collector.snapshot()
    assert [(s.name, s.query_count) for s in snapshot.scopes] == [
        ("GET /a/", 2),
        ("GET /b/", 4),
        ("GET /c/", 3),
    ]
    assert snapshot.error_counts == {("request", "GET /c/", "HTTP 500"): 1}


def test_an_event_recorded_after_waiting_requests_comes_after_them() -> None:
    """An eager query after a waiting request: its request's event is first."""
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(2))

    collector.record_query(query(SQL_C, 0.25), None)

    kinds = [type(e).__name__ for e in collector.snapshot().recent_events]
    assert kinds == ["QueryEvent", "QueryEvent", "RequestEvent", "QueryEvent"]


def test_a_listener_added_while_requests_wait_hears_only_later_ones() -> None:
    """The waiting request closes first: the listener gets the next one only."""
    collector = Collector()
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(2))
    heard: list[Any] = []
    summaries: list[ScopeSummary] = []

    collector.add_listener(heard.append)
    collector.add_scope_listener(summaries.append)
    end_request(collector, open_request(collector, "/b/"), "/b/", n_plus_one(3))

    assert [e.route for e in heard if isinstance(e, RequestEvent)] == ["/b/"]
    assert [s.name for s in summaries] == ["GET /b/"]
    assert collector.snapshot().scopes_closed == 2


def test_a_reset_closes_the_waiting_scopes_and_forgets_them() -> None:
    """A scope waiting at a reset has its summary; the collector starts empty."""
    collector = Collector()
    scope = open_request(collector, "/a/")
    end_request(collector, scope, "/a/", n_plus_one(4))

    collector.reset()

    assert collector._pending == []
    assert collector._scopes.states == {}
    assert scope.waits_in is None
    assert scope.summary is not None
    assert scope.summary.query_count == 4
    snapshot = collector.snapshot()
    assert (snapshot.scopes_closed, snapshot.endpoints, snapshot.query_total) == (
        0,
        {},
        None,
    )


def test_a_waiting_scope_whose_close_fails_is_logged_and_not_kept_open(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure inside the batched close is logged; the next scopes still close."""
    collector = Collector()
    first = open_request(collector, "/a/")
    end_request(collector, first, "/a/", n_plus_one(2))
    end_request(collector, open_request(collector, "/b/"), "/b/", n_plus_one(3))
    real = type(collector)._close_waiting

    def fail_first(self: Collector, scope: Any, *args: Any) -> None:
        if scope is first:
            raise RuntimeError("boom")
        real(self, scope, *args)

    monkeypatch.setattr(type(collector), "_close_waiting", fail_first)
    snapshot = collector.snapshot()

    assert [s.name for s in snapshot.scopes] == ["GET /b/"]
    assert collector._scopes.states == {}
    assert first.tracker is None
    assert "perfprobe failed to close a request scope" in caplog.text


def test_a_quiet_request_that_fails_to_close_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure adding a quiet request of the batch: the read and summary go on."""
    collector = Collector()
    first = open_request(collector, "/a/")
    end_request(collector, first, "/a/", n_plus_one(2))
    end_request(collector, RequestScope(None, 1_000.0, 0, None), "/b/", [])

    def fail(self: Collector, quiet: Any, *args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(type(collector), "_add_quiet", fail)
    summary = first.summary

    assert summary is not None
    assert summary.query_count == 2
    assert collector._pending == []
    assert list(collector.snapshot().endpoints) == [("GET", "/a/")]
    assert "perfprobe failed to close a request scope" in caplog.text


def test_requests_ended_by_threads_during_reads_are_all_counted() -> None:
    """Four threads of 150 requests (1 to 51 queries) while another thread reads."""
    collector = Collector()
    done = threading.Event()
    scopes: list[RequestScope] = []

    def serve(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(150):
            scope = open_request(collector, "/a/")
            end_request(collector, scope, "/a/", n_plus_one(rng.choice((1, 3, 51))))
            scopes.append(scope)

    def read() -> None:
        while not done.is_set():
            collector.snapshot()

    previous = sys.getswitchinterval()
    # Threads switched every few bytecodes, so that they meet inside a close.
    sys.setswitchinterval(1e-6)
    try:
        reader = threading.Thread(target=read)
        reader.start()
        workers = [threading.Thread(target=serve, args=(seed,)) for seed in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        reader.join()
    finally:
        sys.setswitchinterval(previous)

    # The same draws as the threads made: the queries each ran.
    expected = 0
    for seed in range(4):
        rng = random.Random(seed)
        expected += sum(rng.choice((1, 3, 51)) for _ in range(150))
    snapshot = collector.snapshot()
    assert snapshot.scopes_closed == 600
    assert collector._pending == []
    assert collector._scopes.states == {}
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == expected
    assert snapshot.endpoints[("GET", "/a/")]["query_counts"].total == expected
    assert sum(scope.summary.query_count for scope in scopes) == expected


def test_a_summary_read_while_another_thread_closes_its_batch_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch of two is closing in a thread: the second's summary is there."""
    collector = Collector()
    first = open_request(collector, "/a/")
    end_request(collector, first, "/a/", n_plus_one(2))
    second = open_request(collector, "/b/")
    end_request(collector, second, "/b/", n_plus_one(5))
    started, go_on = threading.Event(), threading.Event()
    real = type(collector)._close_waiting

    def slow_first(self: Collector, scope: Any, *args: Any) -> None:
        if scope is first:
            started.set()
            go_on.wait(timeout=10)
        real(self, scope, *args)

    monkeypatch.setattr(type(collector), "_close_waiting", slow_first)
    closer = threading.Thread(target=collector.close_pending)
    closer.start()
    assert started.wait(timeout=10)
    assert collector._pending == []  # taken by the closer
    threading.Timer(0.2, go_on.set).start()

    summary = second.summary

    closer.join()
    assert summary is not None
    assert summary.query_count == 5


# -- random workloads: the same findings as closing each scope at once ------


Step = tuple[str, Any]


def workload(seed: int) -> list[Step]:
    """Return a random sequence of requests and other recordings."""
    rng = random.Random(seed)
    steps: list[Step] = []
    for _ in range(rng.randint(20, 90)):
        kind = rng.random()
        if kind < 0.08:
            steps.append(("eager", rng.randint(1, 64) / 1024))
        elif kind < 0.14:
            steps.append(("user-scope", rng.randint(0, 6)))
        else:
            queries = []
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                sql = rng.choice((SQL_A, SQL_B, SQL_C))
                site = rng.choice(SITES)
                repeat = rng.random() < 0.3
                for index in range(rng.choice((1, 2, 5, 12, 51))):
                    params = 0 if repeat else rng.randint(0, 10**6) * 100 + index
                    queries.append((sql, params, rng.randint(1, 64) / 1024, site))
            status = rng.choice((200, 200, 200, 200, 404, 500))
            values = (
                rng.randint(1, 4096) / 1024,
                1_000.0 + rng.randint(0, 10**6) / 1024,
                rng.randint(1, 9),
                rng.choice((None, "", "page=2")),
            )
            route = rng.choice(("/a/", "/b/"))
            steps.append(("request", (route, queries, status, values)))
        if rng.random() < 0.05:
            steps.append(("read", None))
    return steps


def play(collector: Collector, steps: list[Step]) -> dict[str, Any]:
    """Run ``steps`` in ``collector``; return what a read shows, ids left out."""
    monitor = PerformanceMonitor(collector)
    for kind, arg in steps:
        if kind == "request":
            route, queries, status, values = arg
            scope = open_request(collector, route)
            end_request(collector, scope, route, queries, status, values)
        elif kind == "eager":
            collector.record_query(query(SQL_C, arg, call_site=SITES[1]), None)
        elif kind == "user-scope":
            with monitor.scope("job") as scope:
                log = collector.thread_logs.register()
                for index in range(arg):
                    log.queries.append(raw_query(scope, SQL_B, index, 1 / 32))
        else:
            collector.snapshot()
    snapshot = collector.snapshot()
    return {
        "endpoints": {
            key: (
                ep["stats"].count,
                ep["stats"].total,
                dict(ep["statuses"]),
                ep["query_counts"].total,
            )
            for key, ep in snapshot.endpoints.items()
        },
        "queries": {
            shape: (q["stats"].count, q["stats"].total, q["call_sites"])
            for shape, q in snapshot.queries.items()
        },
        "query_total": (snapshot.query_total.count, snapshot.query_total.total)
        if snapshot.query_total
        else None,
        "outside": snapshot.queries_outside_scopes,
        "scopes": [
            (s.name, s.query_count, s.query_time_s, s.n_plus_one, s.duplicates)
            for s in snapshot.scopes
        ],
        "closed": snapshot.scopes_closed,
        "n_plus_one": snapshot.n_plus_one_totals,
        "duplicates": snapshot.duplicate_totals,
        "errors": snapshot.error_counts,
        # Every field of every request event, in order.
        "requests": [
            e.to_dict() for e in snapshot.recent_events if isinstance(e, RequestEvent)
        ],
        "events": sorted(type(e).__name__ for e in snapshot.recent_events),
    }


@pytest.mark.parametrize("seed", range(40))
def test_findings_are_those_of_closing_each_scope_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Random requests, eager queries, user scopes and reads: the same report.

    Durations are multiples of 1/1024, so every sum is exact however the
    batches split it, and the report compares equal field by field.
    """
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 5000}
    steps = workload(seed)
    waiting = play(Collector(), steps)
    monkeypatch.setattr(RequestScope, "may_wait", False)
    at_once = play(Collector(), steps)

    assert waiting == at_once
    assert waiting["closed"] >= 20


# -- through the middleware and the database --------------------------------


@pytest.fixture
def test_urls(settings: Settings) -> None:
    """Serve the small views of ``middleware_urls``."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"


def capture_scope(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make ``count_in_halves`` keep each request's scope in the list returned."""
    seen: list[Any] = []
    real: Callable[[int, int], None] = middleware_urls.run_queries

    def run_queries(count: int, offset: int = 0) -> None:
        if offset == 0:
            seen.append(get_current_scope())
        real(count, offset)

    monkeypatch.setattr(middleware_urls, "run_queries", run_queries)
    return seen


@pytest.mark.django_db
def test_a_request_s_summary_is_there_right_after_it(
    fresh_monitor: PerformanceMonitor,
    test_urls: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A view of 14 queries: its scope waits, and its summary counts them."""
    seen = capture_scope(monkeypatch)

    assert Client().get("/count/14/").status_code == 200

    (scope,) = seen
    assert scope.waits_in is fresh_monitor.collector
    assert scope.summary.query_count == 14
    assert [f.count for f in scope.summary.n_plus_one] == [14]
    assert scope.waits_in is None


@pytest.mark.django_db(transaction=True)
def test_a_scope_left_waiting_by_a_finished_thread_is_read(
    fresh_monitor: PerformanceMonitor,
    test_urls: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests served in a thread that ends: the next thread's start closes them."""
    seen = capture_scope(monkeypatch)
    statuses: list[int] = []

    def serve() -> None:
        client = Client()
        try:
            statuses.extend(client.get(f"/count/{n}/").status_code for n in (6, 8))
        finally:
            # The thread's own connection: left open, PostgreSQL's driver
            # warns when it is collected.
            connections.close_all()

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join()
    assert statuses == [200, 200]
    assert len(fresh_monitor.collector._pending) == 2

    starter = threading.Thread(target=fresh_monitor.collector.register_thread)
    starter.start()
    starter.join()

    assert fresh_monitor.collector._pending == []
    assert [scope.summary.query_count for scope in seen] == [6, 8]
    snapshot = fresh_monitor.collector.snapshot()
    assert [s.query_count for s in snapshot.scopes] == [6, 8]
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 14


def test_a_findings_only_listener_leaves_scopes_waiting_and_hears_them_close() -> None:
    """Three requests (N+1 of 9, 3 queries, N+1 of 5) wait; two summaries heard.

    A listener to every scope turns the batched close off (each request
    closes at its end); one to findings only does not, and hears each scope
    with a finding when its batch closes, once, after the lock is released.
    """
    collector = Collector()
    heard: list[ScopeSummary] = []
    lock_held: list[bool] = []

    def listener(summary: ScopeSummary) -> None:
        lock_held.append(collector._lock._is_owned())
        heard.append(summary)

    collector.add_scope_listener(listener, findings_only=True)
    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(9))
    end_request(collector, open_request(collector, "/b/"), "/b/", n_plus_one(3))
    end_request(collector, open_request(collector, "/c/"), "/c/", n_plus_one(5))
    assert len(collector._pending) == 3
    assert heard == []

    collector.close_pending()

    assert [(s.name, s.n_plus_one[0].count) for s in heard] == [
        ("GET /a/", 9),
        ("GET /c/", 5),
    ]
    assert lock_held == [False, False]
    collector.snapshot()
    assert len(heard) == 2

    collector.remove_scope_listener(listener)
    end_request(collector, open_request(collector, "/d/"), "/d/", n_plus_one(7))
    collector.close_pending()
    assert len(heard) == 2


def test_a_request_listener_hears_a_quiet_request_that_stays_quiet() -> None:
    """A request with nothing recorded is kept as its tuple, and heard at its end."""
    collector = Collector()
    heard: list[RequestEvent] = []
    collector.add_request_listener(heard.append)
    scope = open_request(collector, "/q/")

    end_request(collector, scope, "/q/", [], status=204, values=(0.25, 5.0, 3, None))

    assert [(e.route, e.status, e.duration_s, e.thread_id) for e in heard] == [
        ("/q/", 204, 0.25, 3)
    ]
    assert (heard[0].query_count, heard[0].scope) == (0, "GET /q/")
    # Kept quiet: the request's own tuple in the history, no summary made.
    assert type(collector._scopes.history[-1]) is tuple
    assert scope.summary is None
    collector.remove_request_listener(heard.append)


def test_a_request_listener_hears_a_request_with_queries_at_its_end() -> None:
    """No waiting while a request listener listens: heard with its 4 queries."""
    collector = Collector()
    heard: list[RequestEvent] = []
    collector.add_request_listener(heard.append)

    end_request(collector, open_request(collector, "/a/"), "/a/", n_plus_one(4))

    assert collector._pending == []
    assert [(e.route, e.query_count) for e in heard] == [("/a/", 4)]
