"""Test each recommendation rule in ``perfprobe.report.rules`` at its threshold."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from perfprobe.collector import Collector
from perfprobe.conf import PerfprobeSettings
from perfprobe.events import LazyLoad
from perfprobe.report import RULES, Recommendation
from perfprobe.report.rules import run_rules, sort_recommendations

from .report_factories import (
    SITE,
    build,
    checkpoint,
    fired,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    query,
    request,
    run_scope,
)

MB = 1024 * 1024


def _with_operation(duration_s: float, time_scale: float = 1.0) -> Collector:
    collector = make_collector()
    collector.time_scale = time_scale
    collector.record_operation(operation("checkout", duration_s), None)
    return collector


def test_the_six_documented_rule_ids_are_registered() -> None:
    """Register every rule id the documentation promises."""
    expected = {
        "slow-operation",
        "high-memory",
        "n-plus-one",
        "duplicate-queries",
        "slow-query",
        "errors",
    }
    assert expected <= set(RULES)


# -- slow-operation -------------------------------------------------------------


def test_slow_operation_fires_just_over_the_threshold() -> None:
    """Flag an operation of 1.01 s against the 1 s default, with its evidence."""
    (rec,) = fired(_with_operation(1.01), "slow-operation")
    assert rec.severity == "warning"
    assert rec.evidence["count"] == 1
    assert rec.evidence["p95_s"] == pytest.approx(1.01)
    assert rec.evidence["max_s"] == pytest.approx(1.01)
    assert rec.evidence["threshold_s"] == 1.0
    assert "background task" in rec.suggestion
    assert "\n" not in rec.title


def test_slow_operation_is_quiet_just_under_the_threshold() -> None:
    """Say nothing about an operation of 0.99 s."""
    assert fired(_with_operation(0.99), "slow-operation") == []


def test_slow_operation_threshold_follows_the_time_scale() -> None:
    """Judge against 1 s x 0.05 = 50 ms when the time scale is 0.05."""
    assert fired(_with_operation(0.051, time_scale=0.05), "slow-operation")
    assert not fired(_with_operation(0.049, time_scale=0.05), "slow-operation")
    (rec,) = fired(_with_operation(0.99, time_scale=0.05), "slow-operation")
    assert rec.evidence["threshold_s"] == pytest.approx(0.05)


def test_slow_operation_with_only_a_slow_outlier_is_info() -> None:
    """Report a single slow call among fast ones at info severity."""
    collector = make_collector()
    for _ in range(19):
        collector.record_operation(operation("render", 0.1), None)
    collector.record_operation(operation("render", 2.0), None)
    (rec,) = fired(collector, "slow-operation")
    assert rec.severity == "info"


# -- slow-endpoint ----------------------------------------------------------------


@pytest.mark.parametrize(("duration_s", "fires"), [(1.01, True), (0.99, False)])
def test_slow_endpoint_at_the_threshold(duration_s: float, fires: bool) -> None:
    """Flag a route whose p95 is over the slow-operation threshold, only then."""
    collector = make_collector()
    collector.record_request(request("/report/", 200, duration_s, query_count=40), None)
    found = fired(collector, "slow-endpoint")
    assert bool(found) is fires
    if fires:
        assert found[0].evidence["queries_per_request"] == 40.0
        assert "40 queries per request" in found[0].suggestion


def test_slow_endpoint_spending_its_time_in_queries_points_at_them() -> None:
    """A route whose 2 s include 1.9 s of query time is sent to its queries."""
    collector = make_collector()
    collector.record_request(
        request("/dash/", 200, 2.0, query_count=3, query_time_s=1.9), None
    )
    (found,) = fired(collector, "slow-endpoint")
    assert found.evidence["query_time_share"] == pytest.approx(0.95)
    assert "95% of its time in 3 queries" in found.suggestion
    assert "time goes elsewhere" not in found.suggestion


# -- slow-query -------------------------------------------------------------------


def _with_query(duration_s: float, time_scale: float = 1.0) -> Collector:
    collector = make_collector()
    collector.time_scale = time_scale
    sql = "SELECT * FROM shop_order WHERE LOWER(email) = ?"
    collector.record_query(query(sql, duration_s, call_site="apps/q.py:9"), None)
    return collector


def test_slow_query_fires_just_over_the_threshold() -> None:
    """Flag a 0.51 s query against 0.5 s with its fingerprint and call site."""
    (rec,) = fired(_with_query(0.51), "slow-query")
    assert rec.evidence["max_s"] == pytest.approx(0.51)
    assert rec.evidence["call_site"] == "apps/q.py:9"
    assert rec.evidence["fingerprint"].startswith("SELECT * FROM shop_order")
    assert "EXPLAIN QUERY PLAN" in rec.suggestion
    assert "index" in rec.suggestion
    assert "function" in rec.suggestion


def test_slow_query_is_quiet_just_under_the_threshold() -> None:
    """Say nothing about a 0.49 s query."""
    assert fired(_with_query(0.49), "slow-query") == []


def test_slow_query_threshold_follows_the_time_scale() -> None:
    """Judge against 0.5 s x 0.05 = 25 ms when the time scale is 0.05."""
    assert fired(_with_query(0.026, time_scale=0.05), "slow-query")
    assert not fired(_with_query(0.024, time_scale=0.05), "slow-query")


# -- n-plus-one -------------------------------------------------------------------


def test_n_plus_one_fires_at_the_minimum_query_count() -> None:
    """Flag five queries of one shape from one site, but not four."""
    at_minimum, under = make_collector(), make_collector()
    run_scope(at_minimum, "view", n_plus_one_queries(5))
    run_scope(under, "view", n_plus_one_queries(4))
    (rec,) = fired(at_minimum, "n-plus-one")
    assert fired(under, "n-plus-one") == []
    assert rec.evidence["count"] == 5
    assert rec.evidence["call_site"] == SITE
    assert rec.evidence["scopes"] == ["view"]
    assert SITE in rec.suggestion
    assert "select_related()" in rec.suggestion


def test_n_plus_one_suggestion_names_the_relation_from_the_lazy_load() -> None:
    """Suggest select_related("customer") where the Order rows are loaded.

    The rows may come through another model's relation, which the advice
    cannot see here, so it also says how to extend such a lookup.
    """
    lazy = LazyLoad(
        "Order", "customer", "forward foreign key", 'select_related("customer")'
    )
    collector = make_collector()
    run_scope(collector, "orders", n_plus_one_queries(6, lazy_load=lazy))
    (rec,) = fired(collector, "n-plus-one")
    assert rec.suggestion == (
        f'Add select_related("customer") where these Order rows are loaded for '
        f"{SITE}, so that Order.customer comes with them instead of once per row; "
        "if they come through a relation (e.g. item.order), extend that lookup "
        'instead: select_related("order__customer").'
    )
    assert (rec.evidence["model"], rec.evidence["field"]) == ("Order", "customer")


def test_n_plus_one_through_a_relation_names_the_outer_queryset() -> None:
    """Suggest the whole lookup path on the OrderItem queryset."""
    lazy = LazyLoad(
        "Order",
        "customer",
        "forward foreign key",
        'select_related("order__customer")',
        via="OrderItem.order",
    )
    collector = make_collector()
    run_scope(collector, "items", n_plus_one_queries(6, lazy_load=lazy))
    (rec,) = fired(collector, "n-plus-one")
    assert rec.suggestion.startswith(
        'Add select_related("order__customer") to the OrderItem queryset '
        f"whose rows are used at {SITE}: the Order rows come through "
        "OrderItem.order"
    )


def test_n_plus_one_example_path_uses_the_models_snake_case_name() -> None:
    """A reverse relation of OrderItem is extended as order_item__... ."""
    lazy = LazyLoad("OrderItem", "notes", "reverse foreign key", "")
    collector = make_collector()
    run_scope(collector, "items", n_plus_one_queries(5, lazy_load=lazy))
    (rec,) = fired(collector, "n-plus-one")
    assert 'prefetch_related("order_item__notes")' in rec.suggestion


@pytest.mark.parametrize(
    ("statement", "advice"),
    [
        ('INSERT INTO "shop_product" ("sku") VALUES (?)', "bulk_create()"),
        ('UPDATE "shop_product" SET "price" = ? WHERE "id" = ?', "bulk_update()"),
        ('DELETE FROM "shop_product" WHERE "id" IN (...)', "queryset.delete()"),
    ],
)
def test_n_plus_one_writes_are_told_to_batch(statement: str, advice: str) -> None:
    """A write run once per item is told to become one bulk call, not a join."""
    collector = make_collector()
    run_scope(
        collector, "import", [query(statement, 0.002, params_hash=i) for i in range(5)]
    )
    (rec,) = fired(collector, "n-plus-one")
    assert advice in rec.suggestion
    assert "select_related" not in rec.suggestion


def test_n_plus_one_without_a_fix_derives_it_from_the_relation() -> None:
    """Suggest prefetch_related for a reverse relation when no fix is given."""
    lazy = LazyLoad("Customer", "orders", "reverse foreign key", "")
    collector = make_collector()
    run_scope(collector, "customers", n_plus_one_queries(5, lazy_load=lazy))
    (rec,) = fired(collector, "n-plus-one")
    assert 'prefetch_related("orders")' in rec.suggestion


# -- duplicate-queries ------------------------------------------------------------


def test_duplicate_queries_fire_from_two_identical_runs() -> None:
    """Flag the same SQL and parameters run twice in a scope, not once."""
    twice, once = make_collector(), make_collector()
    run_scope(twice, "view", [query("SELECT 1", 0.001) for _ in range(2)])
    run_scope(once, "view", [query("SELECT 1", 0.001)])
    (rec,) = fired(twice, "duplicate-queries")
    assert fired(once, "duplicate-queries") == []
    assert rec.severity == "info"
    assert rec.evidence["call_sites"] == [SITE]
    assert rec.evidence["count"] == 2
    assert "reuse the result" in rec.suggestion


# -- high-memory --------------------------------------------------------------------


@pytest.mark.parametrize(("peak", "fires"), [(100 * MB + 1, True), (100 * MB, False)])
def test_high_memory_at_the_threshold(peak: int, fires: bool) -> None:
    """Flag a block whose peak is over 100 MB above its start, only then."""
    collector = make_collector()
    collector.record_memory(memory_block("build_index", peak, heap_delta_bytes=MB))
    found = fired(collector, "high-memory")
    assert bool(found) is fires
    if fires:
        assert found[0].evidence["peak_above_start_bytes"] == peak
        assert found[0].evidence["given_back_bytes"] == peak - MB


def test_high_memory_from_a_rising_checkpoint_series() -> None:
    """Flag checkpoints whose heap rose more than 100 MB from a low point."""
    collector = make_collector()
    for label, heap in (("start", 50 * MB), ("dip", 40 * MB), ("end", 141 * MB)):
        collector.record_memory(checkpoint(label, heap))
    (rec,) = fired(collector, "high-memory")
    assert (rec.evidence["from_label"], rec.evidence["label"]) == ("dip", "end")
    assert rec.evidence["rise_bytes"] == 101 * MB


def test_high_memory_is_not_time_scaled() -> None:
    """Keep the memory threshold when the time scale is small."""
    collector = make_collector()
    collector.time_scale = 0.01
    collector.record_memory(memory_block("load", 2 * MB))
    assert fired(collector, "high-memory") == []


# -- errors -------------------------------------------------------------------------


def test_query_and_request_errors_are_critical() -> None:
    """Make query errors and 5xx responses critical, with specific advice."""
    collector = make_collector()
    collector.record_query(
        query("SELECT slow", 0.2, error_type="django.db.utils.OperationalError"), None
    )
    collector.record_request(
        request("/invoice/", 500, 0.1, error_type="ZeroDivisionError"), None
    )
    collector.record_request(request("/missing/", 404, 0.01), None)
    found = {r.evidence["source"]: r for r in fired(collector, "errors")}

    assert set(found) == {"query", "request"}
    assert {r.severity for r in found.values()} == {"critical"}
    assert found["query"].evidence["call_site"] == SITE
    assert "statement timeout" in found["query"].suggestion
    assert "traceback" in found["request"].suggestion


def test_operation_errors_are_warnings_and_memory_errors_say_chunk() -> None:
    """Make operation errors warnings; a MemoryError suggests chunked processing."""
    collector = make_collector()
    collector.record_operation(operation("import", 0.1, error_type="MemoryError"), None)
    (rec,) = fired(collector, "errors")
    assert rec.severity == "warning"
    assert rec.evidence["count"] == 1
    assert "chunks" in rec.suggestion


# -- the registry -------------------------------------------------------------------


def test_a_failing_rule_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    """Keep the other rules' findings when one rule raises."""

    def broken(data: Any, settings: PerfprobeSettings, scale: float) -> list[Any]:
        raise KeyError("missing")

    data = build(_with_operation(2.0)).to_dict()
    rules = {"broken": broken, "slow-operation": RULES["slow-operation"]}
    with caplog.at_level(logging.ERROR, logger="perfprobe.report"):
        found = run_rules(data, PerfprobeSettings(), 1.0, rules)
    assert [r.rule_id for r in found] == ["slow-operation"]
    assert "perfprobe rule broken failed" in caplog.text


def test_recommendations_sort_by_severity_then_impact() -> None:
    """Put critical first and, within a severity, the most time first."""

    def rec(severity: str, impact_s: float) -> Recommendation:
        return Recommendation("x", severity, "t", {}, "s", impact_s=impact_s)

    ordered = sort_recommendations(
        [
            rec("info", 9.0),
            rec("warning", 1.0),
            rec("critical", 0.0),
            rec("warning", 5.0),
        ]
    )
    assert [(r.severity, r.impact_s) for r in ordered] == [
        ("critical", 0.0),
        ("warning", 5.0),
        ("warning", 1.0),
        ("info", 9.0),
    ]


def test_recommendation_rejects_unknown_severity() -> None:
    """Raise ``ValueError`` for a severity outside critical/warning/info."""
    with pytest.raises(ValueError, match="severity"):
        Recommendation("x", "fatal", "t", {}, "s")


def test_a_query_just_over_the_limit_does_not_read_as_equal_to_it() -> None:
    """0.5003 s against 0.5 s is titled 500.3 ms, not "500 ms (limit 500 ms)"."""
    (rec,) = fired(_with_query(0.5003), "slow-query")
    assert "took 500.3 ms (limit 500 ms)" in rec.title
