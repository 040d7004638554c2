"""Tests for the vendor-aware reading of backslashes in perfprobe's fingerprints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet

from apps.shop.models import Product
from perfprobe import PerformanceMonitor, monitoring, querylog
from perfprobe.collector import Collector
from perfprobe.db.fingerprint import cache_clear, fingerprint
from perfprobe.events import RAW_ALIAS, RAW_VENDOR, QueryEvent

_SELECT = 'SELECT "shop_product"."id" FROM "shop_product" WHERE '
_NAME = '"shop_product"."name" LIKE ? ESCAPE ?'

# Django's lookups on SQLite, each with a different tail after its first
# ESCAPE '\', and the fingerprints worked out by hand.
_LOOKUPS: list[tuple[Callable[[], QuerySet[Any]], str]] = [
    (
        lambda: Product.objects.filter(name__icontains="a").only("id")[:5],
        _SELECT + _NAME + ' ORDER BY "shop_product"."id" ASC LIMIT ?',
    ),
    (
        lambda: (
            Product.objects.filter(name__icontains="a")
            .filter(category__startswith="b")
            .only("id")
        ),
        _SELECT + "(" + _NAME + ' AND "shop_product"."category" LIKE ? ESCAPE ?)'
        ' ORDER BY "shop_product"."id" ASC',
    ),
    (
        lambda: (
            Product.objects.filter(name__icontains="a").filter(price__gt=5).only("id")
        ),
        _SELECT + "(" + _NAME + ' AND "shop_product"."price" > ?)'
        ' ORDER BY "shop_product"."id" ASC',
    ),
    (
        lambda: (
            Product.objects.filter(name__endswith="a").only("id").order_by("-price")
        ),
        _SELECT + _NAME + ' ORDER BY "shop_product"."price" DESC',
    ),
]


def _needs_sqlite() -> None:
    # These capture the SQL Django sends to SQLite (LIKE ... ESCAPE '\');
    # PostgreSQL's backend writes UPPER(...) LIKE UPPER(...) without one.
    if connection.vendor != "sqlite":
        pytest.skip("Django writes ESCAPE '\\' on SQLite only")


def sent_sql(querysets: Iterable[QuerySet[Any]]) -> list[str]:
    """Run ``querysets``; return the SQL text Django handed to the cursor."""
    sent: list[str] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        for queryset in querysets:
            list(queryset)
    return sent


@pytest.mark.django_db
def test_sqlite_like_lookups_keep_what_follows_their_escape_clause() -> None:
    """Lookups differing only after ESCAPE '\\' get their own fingerprints."""
    _needs_sqlite()
    cache_clear()
    sent = sent_sql(make() for make, _ in _LOOKUPS)

    assert connection.vendor == "sqlite"
    assert all("ESCAPE '\\'" in sql for sql in sent)
    assert [fingerprint(sql, "sqlite") for sql in sent] == [
        expected for _, expected in _LOOKUPS
    ]


@pytest.mark.parametrize(
    ("sql", "escaping", "standard"),
    [
        # MySQL: one string holding "', secret, '' FROM t" (a doubled quote
        # escapes one there too); SQLite: secret is a name.
        ("SELECT '\\', secret, '' FROM t", "SELECT ?", "SELECT ?, secret, ? FROM t"),
        (
            "SELECT * FROM u WHERE name = 'O\\'Brien' AND pw = 'hunter2'",
            "SELECT * FROM u WHERE name = ?",
            # On SQLite the text is no one string: Brien and hunter2 are
            # outside quotes there, and so are kept.
            "SELECT * FROM u WHERE name = ?Brien?hunter2?",
        ),
        # Strings that end in a backslash on SQLite are still hidden there.
        ("SELECT 'a\\', 'bob@example.com\\'", "SELECT ?", "SELECT ?, ?"),
    ],
)
def test_backslashes_are_read_as_the_vendor_reads_them(
    sql: str, escaping: str, standard: str
) -> None:
    """MySQL and unknown vendors hide either reading's literals; SQLite its own."""
    cache_clear()
    assert fingerprint(sql, "sqlite") == standard
    assert fingerprint(sql, "mysql") == escaping
    assert fingerprint(sql, "postgresql") == escaping
    assert fingerprint(sql, "some_vendor") == escaping
    assert fingerprint(sql) == escaping
    # The caches keyed by the text alone keep the readings apart.
    assert fingerprint(sql, "sqlite") == standard


def test_long_statements_are_read_as_their_vendor_reads_them() -> None:
    """Past the cached length the vendor's reading still applies."""
    sql = "SELECT '\\', secret, '' FROM t WHERE a IN (" + "1, " * 5000 + "1)"

    assert fingerprint(sql, "sqlite") == "SELECT ?, secret, ? FROM t WHERE a IN (...)"
    assert fingerprint(sql, "mysql") == "SELECT ?"


def fold_lookups(
    monkeypatch: pytest.MonkeyPatch, listen: bool
) -> tuple[list[tuple[int, int]], dict[str, int], list[str]]:
    """Run five lookups from one line in a scope; return N+1s, shapes, events."""
    seen: list[Any] = []
    mon = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", mon)
    if listen:
        # A listener sends every query through the eager path.
        mon.collector.add_listener(seen.append)
    with mon.scope("job") as scope:
        for column, term in zip(
            ("id", "price", "name", "sku", "category"), "abcde", strict=True
        ):
            list(Product.objects.filter(name__icontains=term).order_by(column))
    snapshot = mon.collector.snapshot()
    recent = snapshot.recent_events
    events = [e.fingerprint for e in recent if isinstance(e, QueryEvent)]
    return (
        [(f.count, f.distinct_params) for f in scope.summary.n_plus_one],
        {shape: data["stats"].count for shape, data in snapshot.queries.items()},
        events,
    )


@pytest.mark.django_db
def test_the_fold_and_the_eager_path_give_sqlite_lookups_their_own_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five statements from one line are five shapes, not one N+1 of five."""
    _needs_sqlite()
    cache_clear()
    folded = fold_lookups(monkeypatch, listen=False)
    eager = fold_lookups(monkeypatch, listen=True)
    monkeypatch.setattr(querylog, "_group_queries", None)
    monkeypatch.setattr(querylog, "_settle_group", None)
    pure = fold_lookups(monkeypatch, listen=False)

    n_plus_one, shapes, events = folded
    assert n_plus_one == []
    head = (
        'SELECT "shop_product"."id", "shop_product"."sku", "shop_product"."name", '
        '"shop_product"."category", "shop_product"."price" FROM "shop_product" '
        'WHERE "shop_product"."name" LIKE ? ESCAPE ? ORDER BY "shop_product".'
    )
    expected = [head + f'"{column}" ASC' for column in ("id", "price", "name")]
    expected += [head + f'"{column}" ASC' for column in ("sku", "category")]
    assert shapes == dict.fromkeys(expected, 1)
    assert events == expected
    assert eager == folded
    assert pure == folded


@pytest.mark.django_db
def test_a_group_from_several_connections_takes_both_readings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One text sent on SQLite and on a MySQL alias is masked for MySQL too."""
    _needs_sqlite()
    cache_clear()
    mon = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", mon)
    with mon.scope("job"):
        for _ in range(2):
            list(Product.objects.filter(name__icontains="a").only("id")[:5])
        (log,) = [log for log in mon.collector.thread_logs.logs if log.queries]
        # The second query stands for the same text sent to a MySQL database.
        log.queries[-1][RAW_ALIAS] = "legacy"
        log.queries[-1][RAW_VENDOR] = "mysql"
    snapshot = mon.collector.snapshot()

    assert {s: d["stats"].count for s, d in snapshot.queries.items()} == {
        _SELECT + _NAME: 2
    }
