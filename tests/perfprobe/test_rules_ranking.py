"""Test how recommendations are ranked by payoff and how one cause stays one."""

from __future__ import annotations

import pytest

from perfprobe.collector import Collector
from perfprobe.events import LazyLoad, QueryEvent
from perfprobe.report import Recommendation, validate_report
from perfprobe.scope import Scope

from .report_factories import (
    SITE,
    build,
    checkpoint,
    make_collector,
    memory_block,
    query,
    request,
    run_scope,
)

MB = 1024 * 1024
CUSTOMER = 'SELECT * FROM "shop_customer" WHERE "id" = ?'
REPORT = 'SELECT * FROM "shop_sale" WHERE "day" = ?'


def _request(
    collector: Collector, route: str, duration_s: float, queries: list[QueryEvent]
) -> None:
    """Serve one request of ``duration_s`` whose scope ran ``queries``."""
    scope = Scope(name=f"GET {route}", kind="request")
    collector.scope_opened(scope)
    for event in queries:
        event.scope = scope.path
        collector.record_query(event, scope)
    collector.scope_closed(scope, duration_s)
    query_time_s = sum(event.duration_s for event in queries)
    collector.record_request(
        request(
            route,
            200,
            duration_s,
            query_count=len(queries),
            query_time_s=query_time_s,
        ),
        None,
    )


def _n_plus_one(collector: Collector, scope: str, count: int, each_s: float) -> None:
    lazy = LazyLoad(
        model="Order",
        field="customer",
        relation="forward foreign key",
        fix='select_related("customer")',
    )
    queries = [
        query(CUSTOMER, each_s, params_hash=i, lazy_load=lazy, call_site="app/v.py:7")
        for i in range(count)
    ]
    run_scope(collector, scope, queries)


def test_n_plus_one_ranks_above_a_slower_query_and_states_its_saving() -> None:
    """Ten 50 ms lazy loads (450 ms to save) come before a lone 2 s query."""
    collector = make_collector()
    _n_plus_one(collector, "orders", count=10, each_s=0.05)
    run_scope(collector, "dashboard", [query(REPORT, 2.0, call_site="app/d.py:3")])

    found = build(collector).recommendations
    assert [r.rule_id for r in found] == ["n-plus-one", "slow-query"]
    n_plus_one = found[0]
    # Nine of the ten queries go away: 9 x 50 ms.
    assert n_plus_one.saving_s == pytest.approx(0.45)
    assert "Order.customer" in n_plus_one.title
    assert "10 queries in orders" in n_plus_one.title
    assert "saves about 450 ms" in n_plus_one.title
    # Bringing the 2 s query under the 500 ms limit saves at least 1.5 s.
    assert found[1].saving_s == pytest.approx(1.5)


def test_critical_errors_still_come_before_any_saving() -> None:
    """A 500 response outranks the N+1 however much the N+1 would save."""
    collector = make_collector()
    _n_plus_one(collector, "orders", count=10, each_s=0.05)
    collector.record_request(
        request("/invoice/", 500, 0.1, error_type="KeyError"), None
    )
    ranked = [(r.severity, r.rule_id) for r in build(collector).recommendations]
    assert ranked == [("critical", "errors"), ("warning", "n-plus-one")]


def test_a_slow_query_on_two_endpoints_is_one_recommendation_naming_both() -> None:
    """One 1.2 s query behind two slow routes is one finding, not three."""
    collector = make_collector()
    for route in ("/a/", "/b/"):
        _request(collector, route, 1.25, [query(REPORT, 1.2, call_site="app/d.py:3")])

    found = build(collector).recommendations
    assert [r.rule_id for r in found] == ["slow-query"]
    (rec,) = found
    assert rec.evidence["endpoints"] == ["GET /a/", "GET /b/"]
    assert "at app/d.py:3" in rec.title
    assert "took up to 1.20 s (limit 500 ms) over 2 slow runs in GET /a/, GET /b/" in (
        rec.title
    )
    # Each run was 0.7 s over the 0.5 s limit.
    assert rec.saving_s == pytest.approx(1.4)


def test_a_slow_endpoint_not_spent_in_its_queries_is_still_reported() -> None:
    """A 2 s route with a 0.6 s query spends most of its time elsewhere."""
    collector = make_collector()
    _request(collector, "/r/", 2.0, [query(REPORT, 0.6)])
    rules = sorted(r.rule_id for r in build(collector).recommendations)
    assert rules == ["slow-endpoint", "slow-query"]


def test_an_endpoint_slow_from_its_n_plus_one_is_named_by_that_finding() -> None:
    """A 1.2 s route of which 1.0 s is ten lazy loads: one N+1 finding names it."""
    lazy = LazyLoad(
        model="Order",
        field="customer",
        relation="forward foreign key",
        fix='select_related("customer")',
    )
    loads = [
        query(CUSTOMER, 0.1, params_hash=i, lazy_load=lazy, call_site="app/v.py:7")
        for i in range(10)
    ]
    collector = make_collector()
    _request(collector, "/orders/", 1.2, loads)

    (rec,) = build(collector).recommendations
    assert rec.rule_id == "n-plus-one"
    assert "in GET /orders/" in rec.title


def test_a_small_n_plus_one_does_not_hide_a_slow_endpoint() -> None:
    """Five 1 ms lazy loads in a 2 s route leave the route's own finding."""
    loads = [
        query(CUSTOMER, 0.001, params_hash=i, call_site="app/v.py:7") for i in range(5)
    ]
    collector = make_collector()
    _request(collector, "/orders/", 2.0, loads)

    rules = sorted(r.rule_id for r in build(collector).recommendations)
    assert rules == ["n-plus-one", "slow-endpoint"]


@pytest.mark.parametrize("distinct_params", [True, False], ids=["n+1", "repeats"])
def test_a_query_counted_twice_does_not_hide_a_slow_endpoint(
    distinct_params: bool,
) -> None:
    """Five 0.8 s queries in a 10 s route explain 4 s of it, not 8 s.

    Each run is over the 500 ms slow-query limit and is also part of the
    N+1 (or repeated-query) finding of its scope: its time counts once, so
    the 6 s spent elsewhere leaves the route's own finding.
    """
    loads = [
        query(
            CUSTOMER,
            0.8,
            params_hash=i if distinct_params else 0,
            call_site="app/v.py:7",
        )
        for i in range(5)
    ]
    collector = make_collector()
    _request(collector, "/orders/", 10.0, loads)

    rules = {r.rule_id for r in build(collector).recommendations}
    assert "slow-endpoint" in rules, rules
    assert "slow-query" in rules


def test_a_finding_in_three_scopes_seen_twice_each_lists_them_without_more() -> None:
    """Six scopes of three names list those three, with no "..." for others."""
    collector = make_collector()
    for name in ("GET /a/", "GET /b/", "GET /c/") * 2:
        _n_plus_one(collector, name, count=10, each_s=0.01)

    (rec,) = build(collector).recommendations
    listed = "in 6 runs of 3 scopes (GET /a/, GET /b/, GET /c/) (up to 10 per scope)"
    assert listed in rec.title


def test_a_runaway_query_stopped_by_a_timeout_is_one_critical_finding() -> None:
    """A recursive CTE cancelled after 3 s is reported once, as an error."""
    cte = "WITH RECURSIVE c(n) AS (SELECT ? UNION ALL SELECT n + ? FROM c) SELECT 1"
    collector = make_collector()
    collector.record_query(
        query(
            cte,
            3.0,
            call_site="app/t.py:9",
            error_type="django.db.utils.OperationalError",
        ),
        None,
    )
    (rec,) = build(collector).recommendations
    assert (rec.rule_id, rec.severity) == ("errors", "critical")
    assert rec.title.startswith("Query at app/t.py:9 failed 1 time")
    assert "after 3.00 s" in rec.title
    assert "stopping condition" in rec.suggestion
    assert "add an index" not in rec.suggestion


def test_a_checkpoint_rise_inside_a_flagged_block_is_not_repeated() -> None:
    """Checkpoints taken inside a 150 MB block do not make a second finding."""
    collector = make_collector()
    collector.record_memory(checkpoint("before", 1 * MB))
    collector.record_memory(checkpoint("after", 140 * MB))
    block = memory_block("job", 150 * MB)
    # The block opened before the first checkpoint and closed after the last.
    block.started_at -= 10
    block.duration_s = 100.0
    collector.record_memory(block)

    found = build(collector).recommendations
    assert [r.evidence.get("label") for r in found] == ["job"]


def test_a_checkpoint_rise_outside_any_block_is_kept() -> None:
    """The same rise with no block around it is still its own finding."""
    collector = make_collector()
    collector.record_memory(checkpoint("before", 1 * MB))
    collector.record_memory(checkpoint("after", 140 * MB))
    (rec,) = build(collector).recommendations
    assert rec.evidence["rise_bytes"] == 139 * MB


def test_savings_are_exported_and_the_report_still_validates() -> None:
    """Every exported recommendation carries saving_s, valid under the schema."""
    collector = make_collector()
    _n_plus_one(collector, "orders", count=5, each_s=0.01)
    data = build(collector).to_dict()
    (rec,) = data["recommendations"]
    assert rec["saving_s"] == pytest.approx(0.04)
    validate_report(data)


def test_a_repeated_query_states_what_reusing_its_result_saves() -> None:
    """Three identical 10 ms queries in one scope: two of them, 20 ms, to save."""
    collector = make_collector()
    run_scope(collector, "page", [query("SELECT 1", 0.01) for _ in range(3)])
    (rec,) = build(collector).recommendations_by_rule("duplicate-queries")
    assert rec.saving_s == pytest.approx(0.02)
    assert f"run 3 times at {SITE} in page" in rec.title
    assert "saves about 20.0 ms" in rec.title


def test_a_negative_saving_is_refused() -> None:
    """The schema asks saving_s >= 0, so the dataclass refuses -1 at once."""
    with pytest.raises(ValueError, match="saving_s"):
        Recommendation("x", "info", "t", {}, "s", saving_s=-1.0)
