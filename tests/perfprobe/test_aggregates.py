"""Tests for perfprobe.aggregates: every per-metric table keeps to its setting."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from perfprobe.aggregates import (
    OVERFLOW_KEY,
    PENDING_DURATIONS,
    EndpointStats,
    OpenScope,
    ScopeSummary,
)
from perfprobe.events import (
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_PARAMS_HASH,
    RAW_SQL,
    RAW_SQL_HASH,
)
from perfprobe.nplusone import NPlusOneFinding, ScopeQueries
from perfprobe.querycounts import QueryCountStats
from perfprobe.rawrecords import RAW_LENGTH
from perfprobe.scope import Scope
from perfprobe.stats import MetricStats

from .report_factories import make_collector, operation, query, request


def test_call_sites_per_fingerprint_follow_max_call_sites() -> None:
    """With MAX_CALL_SITES 3, five call sites of one shape keep the first three."""
    collector = make_collector(MAX_CALL_SITES=3)
    for line in range(5):
        for _ in range(2):
            collector.record_query(
                query("SELECT ?", 0.001, call_site=f"a.py:{line}"), None
            )

    sites = collector.snapshot().queries["SELECT ?"]["call_sites"]
    assert sites == {"a.py:0": 2, "a.py:1": 2, "a.py:2": 2}
    assert collector.snapshot().queries["SELECT ?"]["stats"].count == 10


def test_tags_follow_max_tag_keys_and_values() -> None:
    """With 2 keys and 3 values allowed, extra keys and values are not kept."""
    collector = make_collector(MAX_TAG_KEYS=2, MAX_TAG_VALUES=3)
    for index in range(6):
        event = dataclasses.replace(
            operation("job", 0.01),
            tags={"shop": f"s{index}", "worker": "w1", "tenant": "t1"},
        )
        collector.record_operation(event, None)

    assert collector.snapshot().operation_tags["job"] == {
        "shop": ["s0", "s1", "s2"],
        "worker": ["w1"],
    }


def test_error_names_follow_max_error_types() -> None:
    """With MAX_ERROR_TYPES 2, a third and fourth error name count as (other)."""
    collector = make_collector(MAX_ERROR_TYPES=2)
    for name in ("A", "B", "C", "D"):
        collector.record_operation(operation("op", 0.01, error_type=name), None)
        collector.record_request(request("/r/", 500, 0.01, error_type=name), None)

    _, op_errors = collector.snapshot().operations["op"]
    assert op_errors == {"A": 1, "B": 1, OVERFLOW_KEY: 2}
    endpoint_errors = collector.snapshot().endpoints["GET", "/r/"]["errors"]
    assert endpoint_errors == {"A": 1, "B": 1, OVERFLOW_KEY: 2}


# -- queries per request --------------------------------------------------------


def _inclusive(data: list[int], q: float) -> float:
    """Return the inclusive quantile of ``data``, computed from the sorted list."""
    ordered = sorted(data)
    position = (len(ordered) - 1) * q
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_query_counts_give_the_percentiles_of_the_data_they_count() -> None:
    """Counts per number give the same figures as the list of every request."""
    data = [0] * 37 + [1] * 5 + [3] * 11 + [51] * 2 + [7]
    stats = QueryCountStats(max_values=50)
    for value in reversed(data):
        stats.add(value)

    summary = stats.summary()

    assert summary is not None and summary.exact
    assert (summary.count, summary.total) == (len(data), float(sum(data)))
    assert (summary.min, summary.max) == (0.0, 51.0)
    assert summary.mean == pytest.approx(sum(data) / len(data))
    expected = [_inclusive(data, q) for q in (0.50, 0.95, 0.99)]
    assert [summary.p50, summary.p95, summary.p99] == pytest.approx(expected)


def test_requests_without_queries_counted_apart_join_the_figures() -> None:
    """``without_queries`` adds that many zeros: 3 quiet plus 1 of 4 queries."""
    stats = QueryCountStats(max_values=50)
    stats.add(4)

    summary = stats.summary(without_queries=3)

    assert summary is not None
    assert (summary.count, summary.total, summary.min, summary.max) == (4, 4.0, 0, 4)
    assert summary.p50 == 0.0
    assert QueryCountStats(max_values=50).summary() is None


def test_query_counts_past_max_values_become_estimates_with_exact_totals() -> None:
    """Numbers past the bound go to a sketch; count, sum, min and max stay exact."""
    stats = QueryCountStats(max_values=3)
    data = list(range(1, 101))
    for value in data:
        stats.add(value)

    summary = stats.summary()

    assert summary is not None and not summary.exact
    assert len(stats.counts) <= 4
    assert (summary.count, summary.total) == (100, float(sum(data)))
    assert (summary.min, summary.max) == (1.0, 100.0)
    # The sketch's relative accuracy is 1 %.
    assert summary.p50 == pytest.approx(_inclusive(data, 0.5), rel=0.02)


def test_endpoint_statuses_include_requests_without_queries() -> None:
    """Quiet requests counted by status appear in statuses and query counts."""
    endpoint = EndpointStats(MetricStats(10), QueryCountStats(10))
    endpoint.add(0.1, 2, 0.01, 200)
    endpoint.stats.add(0.2)
    endpoint.quiet[200] += 1
    endpoint.stats.add(0.3)
    endpoint.quiet[404] += 1

    data = endpoint.to_dict()

    assert data["statuses"] == {200: 2, 404: 1}
    assert data["query_counts"].count == 3
    assert data["query_counts"].total == 2.0
    assert data["stats"].count == 3


def test_endpoint_pending_durations_count_when_read_and_before_a_full_add() -> None:
    """Durations left pending are in the summary, and a full add keeps them."""
    endpoint = EndpointStats(MetricStats(1000), QueryCountStats(1000))
    # 1 ms .. 9 ms, pending only: fewer than PENDING_DURATIONS.
    endpoint.pending.extend(i / 1000 for i in range(1, 10))
    assert len(endpoint.pending) < PENDING_DURATIONS
    endpoint.add(0.010, 1, 0.001, 200)

    summary = endpoint.to_dict()["stats"]

    assert endpoint.pending == []
    assert summary.count == 10
    assert (summary.min, summary.max) == (0.001, 0.010)
    # Inclusive median of 1..10 ms: halfway between 5 and 6 ms.
    assert summary.p50 == pytest.approx(0.0055)


def test_a_closed_scope_s_summary_is_the_dataclass_its_init_would_make() -> None:
    """Closing a scope of 6 raw lazy loads gives every field, as __init__ sets it."""
    scope = Scope("job", kind="task")
    state = OpenScope(scope, ScopeQueries(100))
    records = []
    for pk in range(6):
        record: list[Any] = [None] * RAW_LENGTH
        record[RAW_SQL] = "SELECT ? FROM c"
        record[RAW_DURATION_S] = 0.25
        record[RAW_CALL_SITE] = "a.py:1"
        record[RAW_PARAMS_HASH] = pk
        record[RAW_SQL_HASH] = 11
        record[RAW_BULK_CALL] = 0
        records.append(record)
    state.queries.add_records("SELECT ? FROM c", "a.py:1", records, 1.5)
    state.query_count, state.query_time_s = 6, 1.5

    summary = state.close(2.0, n_plus_one_min=5, duplicate_min=2)

    finding = NPlusOneFinding(
        scope="job",
        fingerprint="SELECT ? FROM c",
        call_site="a.py:1",
        count=6,
        distinct_params=6,
        total_s=1.5,
        sample_sql="SELECT ? FROM c",
        lazy_load=None,
    )
    expected = ScopeSummary(
        id=scope.id,
        name="job",
        kind="task",
        path="job",
        started_at=scope.started_at,
        duration_s=2.0,
        query_count=6,
        query_time_s=1.5,
        operation_count=0,
        request_count=0,
        errors={},
        n_plus_one=(finding,),
        duplicates=(),
        analysis_truncated=False,
    )
    assert summary == expected
    assert vars(summary) == vars(expected)
    assert vars(summary.n_plus_one[0]) == vars(finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.query_count = 7  # type: ignore[misc]


def test_an_open_scope_makes_its_error_table_only_at_its_first_error() -> None:
    """A scope with 3 queries and no error has no table; 2 failures count 2."""
    collector = make_collector()
    quiet, failing = Scope("quiet-job"), Scope("failing-job")
    collector.scope_opened(quiet)
    collector.scope_opened(failing)
    for _ in range(3):
        collector.record_query(query("SELECT 1", 0.001), quiet)
    collector.record_operation(operation("work", 0.1, error_type="KeyError"), failing)
    collector.record_operation(operation("work", 0.1, error_type="KeyError"), failing)

    assert collector._scopes.states[quiet.id].errors is None
    quiet_summary = collector.scope_closed(quiet, 0.5)
    failing_summary = collector.scope_closed(failing, 0.5)
    assert quiet_summary is not None and failing_summary is not None
    assert (quiet_summary.query_count, quiet_summary.errors) == (3, {})
    assert failing_summary.errors == {"KeyError": 2}


def test_open_scopes_start_at_zero_and_keep_their_own_counts() -> None:
    """Counts added to one state leave another, and the class, at zero."""
    first = OpenScope(Scope("a"), ScopeQueries(10))
    second = OpenScope(Scope("b"), ScopeQueries(10))

    first.query_count += 3
    first.query_time_s += 0.5
    first.operation_count += 1
    first.request_count += 2

    assert (
        second.query_count,
        second.query_time_s,
        second.operation_count,
        second.request_count,
        second.errors,
    ) == (0, 0.0, 0, 0, None)
    assert (first.query_count, first.request_count) == (3, 2)
    assert (OpenScope.query_count, OpenScope.request_count) == (0, 0)
    assert second.close(1.0, 5, 2).query_count == 0
    assert first.close(1.0, 5, 2).query_time_s == 0.5
