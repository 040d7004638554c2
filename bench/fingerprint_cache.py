"""Compare fingerprinting a statement seen before with one never seen.

The statement is the kind Django writes for a filtered, ordered list with a
join. The fresh variant fingerprints a batch of distinct statements (one
literal differs, its width fixed so every statement costs the same) right
after ``cache_clear()``, so each call scans the SQL; there are fewer of them
than the cache holds, so no eviction is timed. The cached variant
fingerprints one statement again and again.

The target is loose, only that a hit is at least twice as cheap as a miss:
it guards the cache's reason to exist, not a number.
"""

from __future__ import annotations

import time

from perfprobe.db import fingerprint as fp

from .harness import Row, compare, format_ratio, format_timing, interleave

TARGET_SPEEDUP = 2.0

_SQL = (
    'SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."status", '
    '"shop_order"."created_at", "shop_order"."total", "shop_customer"."id", '
    '"shop_customer"."name", "shop_customer"."email" FROM "shop_order" '
    'INNER JOIN "shop_customer" ON ("shop_order"."customer_id" = '
    '"shop_customer"."id") WHERE ("shop_order"."status" IN (\'paid\', '
    '\'shipped\') AND "shop_order"."total" > {number}) '
    'ORDER BY "shop_order"."created_at" DESC LIMIT 20'
)


def run(quick: bool) -> list[Row]:
    """Return one row: the miss-to-hit cost ratio against a loose target."""
    ops = 2_000 if quick else 4_000
    fresh_sql = [_SQL.format(number=100_000 + i) for i in range(ops)]
    cached_sql = _SQL.format(number=99_999)
    clock = time.perf_counter_ns
    fingerprint = fp.fingerprint

    def fresh(ops: int) -> int:
        fp.cache_clear()
        start = clock()
        for sql in fresh_sql[:ops]:
            fingerprint(sql)
        elapsed_ns = clock() - start
        # Every call must have missed and been kept: an eviction or a hit
        # would make the miss look cheaper than it is.
        assert fp.cache_size() == ops, fp.cache_size()
        return elapsed_ns

    def cached(ops: int) -> int:
        fingerprint(cached_sql)
        start = clock()
        for _ in range(ops):
            fingerprint(cached_sql)
        return clock() - start

    try:
        timings = interleave(
            [("fresh", fresh), ("cached", cached)], ops, rounds=5 if quick else 15
        )
    finally:
        fp.cache_clear()

    comparison = compare(timings["fresh"], timings["cached"])
    return [
        Row(
            benchmark="fingerprint cache",
            baseline=f"miss {format_timing(timings['fresh'])}",
            measured=f"hit {format_timing(timings['cached'])}",
            ratio=format_ratio(comparison, digits=0),
            detail="miss / hit",
            target=f"hit >= {TARGET_SPEEDUP:.0f}x cheaper",
            passed=comparison.ratio >= TARGET_SPEEDUP,
        )
    ]
