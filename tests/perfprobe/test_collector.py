"""Tests for perfprobe.collector: bounded aggregates, scopes, listeners, threads."""

from __future__ import annotations

import dataclasses
import gc
import logging
import random
import threading
from collections.abc import Callable, Iterator

import pytest
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.aggregates import ScopeSummary
from perfprobe.collector import OVERFLOW_KEY, Collector
from perfprobe.events import Event, QueryEvent, RequestEvent
from perfprobe.requestlog import RawRequest
from perfprobe.scope import Scope
from perfprobe.stats import MetricStats

from .finalisers import SelfReferencing, gc_paused
from .report_factories import operation, query, raw_request, request

SITE = "apps/shop/views.py:42"


@pytest.fixture
def collector() -> Collector:
    """Return a fresh collector on the project's (default) settings."""
    return Collector()


def n_plus_one_queries(
    count: int, fingerprint: str = "SELECT ? FROM t WHERE id = ?"
) -> list[QueryEvent]:
    """Return ``count`` queries of one shape from one site, each with new params."""
    return [
        query(fingerprint, 0.001, call_site=SITE, params_hash=index)
        for index in range(count)
    ]


def op_count(collector: Collector, name: str) -> int:
    """Return how many measurements the collector holds for operation ``name``."""
    summary, _ = collector.snapshot().operations[name]
    return summary.count


# -- bounded memory -----------------------------------------------------------


def test_operation_names_past_max_metrics_share_the_overflow_key(
    settings: Settings,
) -> None:
    """With MAX_METRICS=50, 10,000 names give 50 keys plus one overflow key."""
    settings.PERFPROBE = {"MAX_METRICS": 50}
    collector = Collector()

    for index in range(10_000):
        collector.record_operation(operation(f"op-{index}", 0.001), None)

    snapshot = collector.snapshot()
    assert len(snapshot.operations) == 51
    assert set(snapshot.operations) == {f"op-{i}" for i in range(50)} | {OVERFLOW_KEY}
    assert snapshot.operations[OVERFLOW_KEY][0].count == 9_950
    assert snapshot.dropped_metrics == 9_950


def test_known_names_keep_their_key_once_the_table_is_full(
    settings: Settings,
) -> None:
    """A name admitted before the table filled up is still counted under itself."""
    settings.PERFPROBE = {"MAX_METRICS": 2}
    collector = Collector()

    for name in ("a", "b", "c", "a", "d", "b"):
        collector.record_operation(operation(name, 0.5), None)

    counts = {k: v[0].count for k, v in collector.snapshot().operations.items()}
    assert counts == {"a": 2, "b": 2, OVERFLOW_KEY: 2}


def test_endpoints_past_max_metrics_share_the_overflow_key(
    settings: Settings,
) -> None:
    """Endpoint keys are bounded too; the overflow key is a (method, route) pair."""
    settings.PERFPROBE = {"MAX_METRICS": 10}
    collector = Collector()

    for index in range(100):
        collector.record_request(request(f"/r{index}/", 200, 0.01), None)

    endpoints = collector.snapshot().endpoints
    assert len(endpoints) == 11
    assert endpoints[OVERFLOW_KEY, OVERFLOW_KEY]["stats"].count == 90


def test_recent_events_respect_their_bound(settings: Settings) -> None:
    """After 5,000 events only the newest RECENT_EVENTS_SIZE are kept, in order."""
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 100}
    collector = Collector()

    for index in range(5_000):
        collector.record_operation(
            operation(f"op-{index % 7}", 0.001, error_type="ValueError"), None
        )

    snapshot = collector.snapshot()
    assert len(snapshot.recent_events) == 100
    assert len(snapshot.errors) == 100
    assert [e.started_at for e in snapshot.recent_events] == sorted(
        e.started_at for e in snapshot.recent_events
    )
    # Aggregates are not bounded by the buffer: they still count every event.
    assert sum(s.count for s, _ in snapshot.operations.values()) == 5_000
    assert sum(snapshot.error_counts.values()) == 5_000


def test_fingerprints_past_max_fingerprints_share_the_overflow_key(
    settings: Settings,
) -> None:
    """With MAX_FINGERPRINTS=20, 1,000 query shapes give 20 keys plus overflow."""
    settings.PERFPROBE = {"MAX_FINGERPRINTS": 20}
    collector = Collector()

    for index in range(1_000):
        collector.record_query(query(f"SELECT {index}", 0.001), None)

    snapshot = collector.snapshot()
    assert len(snapshot.queries) == 21
    assert snapshot.queries[OVERFLOW_KEY]["stats"].count == 980
    assert snapshot.dropped_metrics == 980
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 1_000


def test_slowest_queries_keep_exactly_the_n_slowest_in_order(
    settings: Settings,
) -> None:
    """The slow-query heap holds the MAX_SLOW_QUERIES slowest, slowest first."""
    settings.PERFPROBE = {"MAX_SLOW_QUERIES": 5}
    collector = Collector()
    durations = [index / 1000 for index in range(1, 201)]
    random.Random(7).shuffle(durations)

    for duration_s in durations:
        collector.record_query(query(f"q{duration_s}", duration_s), None)

    slowest = collector.snapshot().slowest_queries
    assert [q.duration_s for q in slowest] == [0.2, 0.199, 0.198, 0.197, 0.196]
    assert slowest[0].fingerprint == "q0.2"


def test_slow_query_count_uses_the_threshold(
    settings: Settings, collector: Collector
) -> None:
    """Queries over SLOW_QUERY_SECONDS are counted; those at or under it are not."""
    settings.PERFPROBE = {"SLOW_QUERY_SECONDS": 0.1}

    for duration_s in (0.05, 0.1, 0.11, 2.0):
        collector.record_query(query("SELECT ?", duration_s), None)

    assert collector.snapshot().slow_query_count == 2


# -- scopes ---------------------------------------------------------------------


def test_nested_scope_counts_for_both_but_is_analysed_innermost(
    collector: Collector,
) -> None:
    """A query in a child counts for parent and child; N+1 is found in the child."""
    parent = Scope(name="job")
    child = Scope(name="step", parent=parent)
    collector.scope_opened(parent)
    collector.scope_opened(child)

    for event in n_plus_one_queries(6):
        collector.record_query(event, child)
    collector.record_query(query("SELECT 1", 0.002), parent)
    collector.record_operation(operation("work", 0.25, error_type="KeyError"), child)
    child_summary = collector.scope_closed(child, 0.5)
    parent_summary = collector.scope_closed(parent, 1.0)

    assert child_summary is not None and parent_summary is not None
    assert (child_summary.query_count, parent_summary.query_count) == (6, 7)
    assert child_summary.query_time_s == pytest.approx(0.006)
    assert parent_summary.query_time_s == pytest.approx(0.008)
    assert child_summary.operation_count == parent_summary.operation_count == 1
    assert child_summary.errors == parent_summary.errors == {"KeyError": 1}
    assert child_summary.path == "job/step"
    (finding,) = child_summary.n_plus_one
    assert (finding.scope, finding.count, finding.distinct_params) == ("job/step", 6, 6)
    assert parent_summary.n_plus_one == ()
    assert [s.path for s in collector.snapshot().scopes] == ["job/step", "job"]


def test_closing_a_scope_twice_is_harmless(collector: Collector) -> None:
    """The second close returns None and leaves a single summary."""
    scope = Scope(name="once")
    collector.scope_opened(scope)

    first = collector.scope_closed(scope, 0.1)
    second = collector.scope_closed(scope, 0.2)

    assert first is not None and first.duration_s == 0.1
    assert second is None
    assert [s.name for s in collector.snapshot().scopes] == ["once"]


def test_a_scope_never_opened_records_into_nothing(collector: Collector) -> None:
    """Work given an unopened scope is aggregated but counted in no scope."""
    scope = Scope(name="ghost")

    collector.record_query(query("SELECT ?", 0.001), scope)

    assert collector.scope_closed(scope, 0.1) is None
    assert collector.snapshot().query_total is not None


def test_reset_keeps_open_scopes_working_and_empties_them(
    collector: Collector,
) -> None:
    """An open scope survives reset(), starting empty: only later work counts."""
    scope = Scope(name="long-running")
    collector.scope_opened(scope)
    for event in n_plus_one_queries(3, "SELECT ? FROM before"):
        collector.record_query(event, scope)
    collector.record_operation(operation("before", 0.1), scope)

    collector.reset()
    for event in n_plus_one_queries(5):
        collector.record_query(event, scope)
    summary = collector.scope_closed(scope, 1.0)

    assert summary is not None
    assert (summary.query_count, summary.operation_count) == (5, 0)
    assert summary.query_time_s == pytest.approx(0.005)
    (finding,) = summary.n_plus_one
    assert finding.count == 5
    assert [s.name for s in collector.snapshot().scopes] == ["long-running"]


def test_scope_analysis_is_bounded_and_says_so(settings: Settings) -> None:
    """Past MAX_QUERY_GROUPS_PER_SCOPE shapes the scope still counts, but truncated."""
    settings.PERFPROBE = {"MAX_QUERY_GROUPS_PER_SCOPE": 3}
    collector = Collector()
    scope = Scope(name="wide")
    collector.scope_opened(scope)

    for index in range(10):
        collector.record_query(query(f"SELECT {index}", 0.001), scope)
    summary = collector.scope_closed(scope, 0.1)

    assert summary is not None
    assert summary.query_count == 10
    assert summary.analysis_truncated


# -- concurrency and copies ------------------------------------------------------


def test_eight_threads_give_exact_counts_and_totals(collector: Collector) -> None:
    """8 threads x 10,000 record_operation calls lose no count and no time."""
    scope = Scope(name="shared")
    collector.scope_opened(scope)

    def work() -> None:
        for index in range(10_000):
            # Quarters of a second are exact in binary, so the total does not
            # depend on the order in which the threads add them.
            collector.record_operation(operation("hot", (index % 4) * 0.25), scope)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = collector.scope_closed(scope, 1.0)

    stats, _ = collector.snapshot().operations["hot"]
    assert stats.count == 80_000
    assert stats.total == 8 * 2_500 * (0 + 0.25 + 0.5 + 0.75)
    assert (stats.min, stats.max) == (0.0, 0.75)
    assert summary is not None and summary.operation_count == 80_000


def test_snapshot_is_a_copy(collector: Collector) -> None:
    """Changing a snapshot, or recording after it, leaves the other side as it was."""
    collector.record_operation(operation("op", 0.1, error_type="KeyError"), None)
    collector.record_request(request("/r/", 500, 0.2), None)
    snapshot = collector.snapshot()

    snapshot.operations.clear()
    snapshot.recent_events.clear()
    snapshot.errors.clear()
    snapshot.error_counts.clear()
    snapshot.endpoints["GET", "/r/"]["statuses"][500] = 99
    snapshot.endpoints["GET", "/r/"]["errors"].clear()
    collector.record_operation(operation("later", 0.1), None)

    fresh = collector.snapshot()
    assert set(fresh.operations) == {"op", "later"}
    assert len(fresh.recent_events) == 3
    assert len(fresh.errors) == 2
    assert fresh.endpoints["GET", "/r/"]["statuses"] == {500: 1}
    assert fresh.endpoints["GET", "/r/"]["errors"] == {"HTTP 500": 1}
    assert set(snapshot.operations) == set()
    assert len(snapshot.recent_events) == 0


# -- re-entry from garbage-collector finalisers ------------------------------------


def collect_in_next_add(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next ``MetricStats.add`` (run under the lock) collect garbage first."""
    original = MetricStats.add
    pending = [True]

    def add(self: MetricStats, value: float) -> None:
        if pending:
            pending.clear()
            gc.collect()
        original(self, value)

    monkeypatch.setattr(MetricStats, "add", add)


def run_bounded(target: Callable[[], None], timeout_s: float = 10.0) -> None:
    """Run ``target`` in a daemon thread; fail instead of hanging if it blocks."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "the collector call is waiting for itself"
    if failures:
        raise failures[0]


def test_timed_generator_finalised_inside_the_lock_is_deferred(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A timer finalised while its thread holds the lock is recorded just after."""
    collector = Collector()
    mon = PerformanceMonitor(collector)

    def timed() -> Iterator[None]:
        with mon.measure_execution_time("in-generator"):
            yield

    def work() -> None:
        SelfReferencing(timed())
        collect_in_next_add(monkeypatch)
        collector.record_operation(operation("outer", 0.25), None)

    with gc_paused():
        run_bounded(work)

    events = collector.snapshot().recent_events
    assert [getattr(e, "name", None) for e in events] == ["outer", "in-generator"]
    # The finaliser's end of its block was replayed too: a block opened now
    # in another thread has no busy thread to be shared with.
    with mon.track_memory_usage("later") as probe:
        pass
    assert probe.record is not None and probe.record.process_wide is False


def test_query_in_a_finaliser_inside_the_lock_is_deferred(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A generator whose cleanup records a query, finalised under the lock, works."""
    collector = Collector()

    def rows() -> Iterator[None]:
        try:
            yield
        finally:
            collector.record_query(query("SELECT cleanup", 0.001), None)

    def work() -> None:
        SelfReferencing(rows())
        collect_in_next_add(monkeypatch)
        collector.record_query(query("SELECT outer", 0.002), None)

    with gc_paused():
        run_bounded(work)

    snapshot = collector.snapshot()
    assert [getattr(e, "fingerprint", None) for e in snapshot.recent_events] == [
        "SELECT outer",
        "SELECT cleanup",
    ]
    assert snapshot.query_total is not None and snapshot.query_total.count == 2


def test_scope_listeners_receive_each_closed_scope_summary(
    collector: Collector,
) -> None:
    """A scope listener gets the summary of every scope closed, with its counts."""
    summaries: list[ScopeSummary] = []
    collector.add_scope_listener(summaries.append)
    scope = Scope(name="job")
    collector.scope_opened(scope)
    collector.record_query(query("SELECT ?", 0.01, scope="job"), scope)

    returned = collector.scope_closed(scope, 0.5)
    collector.remove_scope_listener(summaries.append)
    later = Scope(name="unseen")
    collector.scope_opened(later)
    collector.scope_closed(later, 0.1)

    assert summaries == [returned]
    assert summaries[0].query_count == 1


def test_a_listener_may_record_at_once(collector: Collector) -> None:
    """Listeners run outside the lock, so their own recording is not deferred."""
    seen: list[int] = []

    def echo(event: Event) -> None:
        if getattr(event, "name", None) == "first":
            collector.record_operation(operation("echo", 0.1), None)
            seen.append(op_count(collector, "echo"))

    collector.add_listener(echo)
    collector.record_operation(operation("first", 0.1), None)

    assert seen == [1]


# -- bounded error names -----------------------------------------------------------


def test_error_names_of_one_operation_are_bounded(collector: Collector) -> None:
    """200 exception names on one operation keep 50 names; 150 count as "(other)"."""
    scope = Scope(name="job")
    collector.scope_opened(scope)

    for index in range(200):
        event = operation("flaky", 0.001, error_type=f"E{index}")
        collector.record_operation(event, scope)
    summary = collector.scope_closed(scope, 1.0)

    assert collector.settings.MAX_ERROR_TYPES == 50
    _, errors = collector.snapshot().operations["flaky"]
    assert set(errors) == {f"E{i}" for i in range(50)} | {OVERFLOW_KEY}
    assert errors[OVERFLOW_KEY] == 150
    error_counts = collector.snapshot().error_counts
    assert len(error_counts) == 51
    assert error_counts["operation", "flaky", OVERFLOW_KEY] == 150
    assert summary is not None and len(summary.errors) == 51
    # The recent error keeps its true name.
    assert collector.snapshot().errors[-1].error_type == "E199"


def test_error_names_of_queries_and_endpoints_are_bounded(
    collector: Collector,
) -> None:
    """A query shape and an endpoint keep at most 50 error names plus "(other)"."""
    for index in range(120):
        collector.record_query(query("SELECT ?", 0.001, error_type=f"Q{index}"), None)
        http = request("/r/", 500, 0.01, error_type=f"R{index}")
        collector.record_request(http, None)

    snapshot = collector.snapshot()
    query_errors = snapshot.queries["SELECT ?"]["errors"]
    endpoint_errors = snapshot.endpoints["GET", "/r/"]["errors"]
    assert (len(query_errors), query_errors[OVERFLOW_KEY]) == (51, 70)
    assert (len(endpoint_errors), endpoint_errors[OVERFLOW_KEY]) == (51, 70)


# -- settings that turn invalid at run time ------------------------------------------


def test_scope_closes_on_the_last_good_settings_when_they_turn_invalid(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """With a bad PERFPROBE set mid-run, scopes close and queries count; logged once."""
    collector = Collector()
    scope = Scope(name="job")
    collector.scope_opened(scope)
    for event in n_plus_one_queries(5):
        collector.record_query(event, scope)

    settings.PERFPROBE = {"SLOW_QUERY_SECONDS": "fast"}
    with caplog.at_level(logging.ERROR, logger="perfprobe.collector"):
        collector.record_query(query("SELECT ? FROM t WHERE id = ?", 0.001), scope)
        summary = collector.scope_closed(scope, 0.5)

    assert summary is not None and summary.query_count == 6
    # N_PLUS_ONE_MIN_QUERIES is 5 by default: six queries of one shape.
    (finding,) = summary.n_plus_one
    assert finding.count == 6
    assert collector.scope_closed(scope, 0.5) is None
    failures = [r for r in caplog.records if r.name == "perfprobe.collector"]
    assert len(failures) == 1
    assert failures[0].getMessage().startswith("perfprobe settings are invalid")


# -- queries outside scopes ------------------------------------------------------


def test_queries_no_open_scope_held_are_counted_outside_scopes(
    collector: Collector,
) -> None:
    """Of 1 query with no scope, 2 in an open one, 3 in a closed one: 4 outside."""
    collector.record_query(query("SELECT 1", 0.001), None)
    open_scope, closed_scope = Scope(name="open"), Scope(name="closed")
    collector.scope_opened(open_scope)
    collector.scope_opened(closed_scope)
    collector.scope_closed(closed_scope, 0.1)
    for _ in range(2):
        collector.record_query(query("SELECT 1", 0.001), open_scope)
    for _ in range(3):
        collector.record_query(query("SELECT 1", 0.001), closed_scope)

    snapshot = collector.snapshot()
    assert snapshot.query_total is not None
    assert snapshot.query_total.count == 6
    assert snapshot.queries_outside_scopes == 4
    collector.reset()
    assert collector.snapshot().queries_outside_scopes == 0


def test_a_closed_scope_inside_an_open_one_is_not_outside(
    collector: Collector,
) -> None:
    """A query of a closed child whose parent is still open counts in the parent."""
    parent = Scope(name="job")
    child = Scope(name="request", parent=parent)
    collector.scope_opened(parent)
    collector.scope_opened(child)
    collector.scope_closed(child, 0.1)

    collector.record_query(query("SELECT 1", 0.001), child)

    assert collector.snapshot().queries_outside_scopes == 0
    summary = collector.scope_closed(parent, 0.2)
    assert summary is not None
    assert summary.query_count == 1


# -- requests closed with their scope ---------------------------------------------


def _request_scope(collector: Collector, name: str = "GET /items/") -> Scope:
    scope = Scope(name=name, kind="request", started_at=1_000.0)
    collector.scope_opened(scope)
    return scope


def _raw(scope: Scope, status: int = 200, duration_s: float = 0.25) -> RawRequest:
    return raw_request(scope, "/items/", status, duration_s)


def _end_new(collector: Collector, status: int = 200, duration_s: float = 0.25) -> None:
    scope = _request_scope(collector)
    collector.request_ended(scope, _raw(scope, status, duration_s))


def test_a_request_with_an_empty_scope_reads_back_in_full(
    collector: Collector,
) -> None:
    """Endpoint figures, the scope's summary and the event all hold the request."""
    scope = _request_scope(collector)

    collector.request_ended(scope, _raw(scope, status=201, duration_s=0.25))

    snapshot = collector.snapshot()
    endpoint = snapshot.endpoints[("GET", "/items/")]
    assert (endpoint["stats"].count, endpoint["stats"].total) == (1, 0.25)
    assert endpoint["statuses"] == {201: 1}
    assert (endpoint["query_counts"].count, endpoint["query_counts"].max) == (1, 0)
    (summary,) = snapshot.scopes
    assert (summary.name, summary.kind, summary.path) == (
        "GET /items/",
        "request",
        "GET /items/",
    )
    assert (summary.duration_s, summary.started_at, summary.query_count) == (
        0.25,
        1_000.0,
        0,
    )
    assert snapshot.scopes_closed == 1
    (event,) = snapshot.recent_events
    assert isinstance(event, RequestEvent)
    assert (event.method, event.route, event.status, event.duration_s) == (
        "GET",
        "/items/",
        201,
        0.25,
    )
    assert (event.thread_id, event.query_count, event.scope) == (7, 0, "GET /items/")
    # Read twice, the same objects: they are made once.
    again = collector.snapshot()
    assert again.recent_events[0] is event and again.scopes[0] is summary


def test_quiet_requests_past_the_pending_batch_all_count(collector: Collector) -> None:
    """150 empty-scope requests of 1..150 ms: every duration reaches the stats."""
    for ms in range(1, 151):
        _end_new(collector, duration_s=ms / 1000)
    _end_new(collector, status=503, duration_s=1)

    stats = collector.snapshot().endpoints[("GET", "/items/")]["stats"]

    assert stats.count == 151
    assert (stats.min, stats.max) == (0.001, 1.0)
    assert stats.total == pytest.approx(sum(range(1, 151)) / 1000 + 1)
    # Inclusive median of 1..150 ms and 1 s: the 76th value, 76 ms.
    assert stats.p50 == pytest.approx(0.076)


def test_a_listener_sees_the_same_request_the_reader_would() -> None:
    """With a listener (which needs the event at once) the figures are identical."""
    quiet, heard = Collector(), Collector()
    events: list[Event] = []
    heard.add_listener(events.append)

    for collector in (quiet, heard):
        _end_new(collector, duration_s=0.5)

    (event,) = events
    one, other = quiet.snapshot(), heard.snapshot()
    assert one.endpoints == other.endpoints
    assert one.recent_events == other.recent_events == [event]
    assert [dataclasses.replace(s, id=0) for s in one.scopes] == [
        dataclasses.replace(s, id=0) for s in other.scopes
    ]


def test_a_request_whose_scope_ran_queries_counts_them(collector: Collector) -> None:
    """Two queries recorded in the request's scope reach its summary and event."""
    scope = _request_scope(collector)
    collector.record_query(query("SELECT ?", 0.002), scope)
    collector.record_query(query("SELECT ?", 0.003), scope)

    collector.request_ended(scope, _raw(scope))

    snapshot = collector.snapshot()
    (summary,) = snapshot.scopes
    assert summary.query_count == 2
    event = snapshot.recent_events[-1]
    assert isinstance(event, RequestEvent)
    assert (event.query_count, event.query_time_s) == (2, pytest.approx(0.005))
    assert snapshot.endpoints[("GET", "/items/")]["query_counts"].max == 2


def test_a_failed_request_is_an_error_also_with_an_empty_scope(
    collector: Collector,
) -> None:
    """A 503 with nothing in its scope is still counted among the errors."""
    _end_new(collector, status=503)

    snapshot = collector.snapshot()
    assert snapshot.error_counts == {("request", "GET /items/", "HTTP 503"): 1}
    assert snapshot.endpoints[("GET", "/items/")]["statuses"] == {503: 1}


def test_recent_events_keep_their_order_around_an_empty_request(
    collector: Collector,
) -> None:
    """A query, a request, a query: read back in that order."""
    collector.record_query(query("SELECT 1", 0.001), None)
    _end_new(collector)
    collector.record_query(query("SELECT 2", 0.001), None)

    kinds = [event.kind for event in collector.snapshot().recent_events]

    assert kinds == ["query", "request", "query"]


def test_a_request_ended_inside_the_lock_waits_for_it(collector: Collector) -> None:
    """Called by a finaliser inside the lock, it is applied once the lock is free."""
    scope = _request_scope(collector)

    with collector._lock:
        collector.request_ended(scope, _raw(scope))
        assert collector._endpoints == {}
    collector.record_skipped_request("excluded")  # releases: runs what waited

    assert collector.snapshot().endpoints[("GET", "/items/")]["stats"].count == 1


def test_a_scope_closed_empty_keeps_no_state_for_a_late_query(
    collector: Collector,
) -> None:
    """A query after its scope closed counts outside scopes and leaves nothing open."""
    scope = Scope(name="job")
    collector.scope_opened(scope)
    summary = collector.scope_closed(scope, 0.1)

    collector.record_query(query("SELECT ?", 0.001), scope)

    assert summary is not None and summary.query_count == 0
    assert collector.snapshot().queries_outside_scopes == 1
    assert collector._scopes.states == {}
