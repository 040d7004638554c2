"""Test that each suggestion fits what its finding saw (queries, loops, paths)."""

from __future__ import annotations

import dataclasses

from apps.shop.models import Order
from perfprobe.collector import Collector
from perfprobe.db.fingerprint import fingerprint
from perfprobe.events import LazyLoad
from perfprobe.report import Recommendation
from perfprobe.scope import Scope

from .report_factories import (
    SITE,
    fired,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    query,
    run_scope,
)

MB = 1024 * 1024


def _memory_block_in_scope(queries_inside: int) -> Collector:
    """Return a collector with a 150 MB block that ran ``queries_inside`` queries."""
    collector = make_collector()
    scope = Scope(name="export", kind="scenario")
    collector.scope_opened(scope)
    block = memory_block("export", 150 * MB, heap_delta_bytes=MB)
    block.scope = scope.path
    for i in range(queries_inside):
        event = query('SELECT * FROM "shop_order"', 0.001, scope=scope.path)
        event.started_at = block.started_at + 0.1 * (i + 1)
        collector.record_query(event, scope)
    collector.record_memory(block)
    collector.scope_closed(scope, 1.0)
    return collector


def test_memory_advice_without_queries_does_not_mention_querysets() -> None:
    """A block that ran no query is not told to iterate querysets."""
    (rec,) = fired(_memory_block_in_scope(0), "high-memory")

    assert ".iterator(" not in rec.suggestion
    assert "values_list" not in rec.suggestion
    assert "generators" in rec.suggestion


def test_memory_advice_with_queries_mentions_querysets() -> None:
    """A block that ran two queries is told to stream its querysets."""
    (rec,) = fired(_memory_block_in_scope(2), "high-memory")

    assert ".iterator(chunk_size=2000)" in rec.suggestion
    assert "values_list()" in rec.suggestion


def test_memory_error_without_queries_does_not_suggest_iterator() -> None:
    """A MemoryError where no query ran is told to chunk, not to use .iterator()."""
    collector = make_collector()
    collector.record_operation(operation("import", 0.1, error_type="MemoryError"), None)
    (rec,) = fired(collector, "errors")

    assert "chunks" in rec.suggestion
    assert ".iterator(" not in rec.suggestion


def test_memory_error_during_a_query_suggests_iterator() -> None:
    """A MemoryError in an operation that ran a query suggests .iterator()."""
    collector = make_collector()
    failed = operation("import", 0.5, error_type="MemoryError")
    event = query('SELECT * FROM "shop_order"', 0.01)
    event.started_at = failed.started_at + 0.2
    collector.record_query(event, None)
    collector.record_operation(failed, None)
    (rec,) = fired(collector, "errors")

    assert ".iterator(chunk_size=...)" in rec.suggestion


LAZY = LazyLoad(
    "Order", "customer", "forward foreign key", 'select_related("customer")'
)


def _order_customer_n_plus_one(loader_sql: str | None) -> Recommendation:
    """Return the N+1 finding of order.customer, after ``loader_sql`` at :44."""
    lazy = LAZY
    loader = [] if loader_sql is None else [query(loader_sql, 0.003, call_site=LOADER)]
    collector = make_collector()
    run_scope(collector, "orders", loader + n_plus_one_queries(6, lazy_load=lazy))
    (rec,) = fired(collector, "n-plus-one")
    return rec


LOADER = "apps/debugging/scenarios/database.py:44"


def test_n_plus_one_names_the_queryset_that_loaded_the_rows() -> None:
    """The Order query run at :44 in the same scope is where the fix goes."""
    sql = fingerprint(str(Order.objects.order_by("-created_at")[:10].query))
    rec = _order_customer_n_plus_one(sql)

    assert rec.suggestion == (
        f'Add select_related("customer") to the Order queryset at {LOADER}, '
        f"whose rows are used at {SITE}, so that Order.customer comes with them "
        "instead of once per row."
    )


def test_n_plus_one_keeps_the_relation_hint_when_no_loader_is_known() -> None:
    """A count over orders loads no Order rows: the relation hint stays."""
    counted = fingerprint('SELECT COUNT(*) AS "__count" FROM "shop_order"')

    for loader in (counted, None):
        text = _order_customer_n_plus_one(loader).suggestion
        assert "if they come through a relation (e.g. item.order)" in text
        assert LOADER not in text


def test_duplicates_from_one_line_are_told_about_the_loop() -> None:
    """One call site repeating a query runs in a loop: hoist it."""
    collector = make_collector()
    run_scope(collector, "view", [query("SELECT 1", 0.001) for _ in range(3)])
    (rec,) = fired(collector, "duplicate-queries")

    assert f"from one line, {SITE}" in rec.suggestion
    assert "before the loop" in rec.suggestion


def test_duplicates_from_distinct_lines_are_not_told_about_a_loop() -> None:
    """Two call sites each fetching once are told to share one result."""
    collector = make_collector()
    run_scope(
        collector,
        "view",
        [query("SELECT 1", 0.001, call_site=f"apps/v.py:{n}") for n in (10, 20)],
    )
    (rec,) = fired(collector, "duplicate-queries")

    assert "from 2 places (apps/v.py:10, apps/v.py:20)" in rec.suggestion
    assert "loop" not in rec.suggestion


def test_slow_operation_points_at_slow_queries_when_the_report_has_them() -> None:
    """A 1.5 s operation beside a 1.2 s slow query is told to read that first."""
    alone, beside = make_collector(), make_collector()
    for collector in (alone, beside):
        collector.record_operation(operation("db.report", 1.5), None)
    # In another thread: the factories' clock would otherwise start the
    # query inside the operation's 1.5 s, where the report links the two.
    elsewhere = dataclasses.replace(
        query('SELECT * FROM "shop_order"', 1.2), thread_id=2
    )
    beside.record_query(elsewhere, None)

    (quiet,) = fired(alone, "slow-operation")
    (told,) = fired(beside, "slow-operation")
    assert "slow-query findings" not in quiet.suggestion
    assert quiet.suggestion.startswith("Profile 'db.report'")
    assert told.suggestion.startswith(
        "If 'db.report' runs queries, read the slow-query findings first"
    )


def test_n_plus_one_names_a_queryset_read_on_the_loops_own_line() -> None:
    """``[o.customer.name for o in Order.objects.all()]``: one line loads and loops.

    As in the fresh-user trial's view: the Order query ran at the N+1's own
    line, was not taken for the loader, and the suggestion fell back to the
    hint about a relation that did not apply.
    """
    sql = fingerprint(str(Order.objects.all().query))
    collector = make_collector()
    loader = query(sql, 0.003)
    run_scope(
        collector, "GET /orders/", [loader, *n_plus_one_queries(6, lazy_load=LAZY)]
    )
    (rec,) = fired(collector, "n-plus-one")

    assert rec.suggestion == (
        f'Add select_related("customer") where the Order queryset used at {SITE} '
        f"is built (its query ran at {SITE}, where it was first read), so that "
        "Order.customer comes with its rows instead of once per row."
    )


def test_n_plus_one_through_a_lazily_loaded_relation_extends_its_lookup() -> None:
    """Order rows loaded one by one through OrderItem.order: extend that lookup."""
    through = LazyLoad("OrderItem", "order", "forward foreign key", "")
    sql = fingerprint(str(Order.objects.filter(pk=1).query))
    loader = query(sql, 0.003, call_site="apps/shop/views.py:40", lazy_load=through)
    collector = make_collector()
    run_scope(
        collector, "GET /items/", [loader, *n_plus_one_queries(6, lazy_load=LAZY)]
    )
    (rec,) = fired(collector, "n-plus-one")

    assert "through OrderItem.order" in rec.suggestion
    assert 'select_related("order__customer")' in rec.suggestion
    assert "e.g. item.order" not in rec.suggestion
