"""Measure what perfprobe's query recorder adds to a real ORM query.

The same query, ``Customer.objects.filter(pk=...).first()`` on a small
seeded SQLite table, runs interleaved with the recorder uninstalled,
installed, and installed inside a scope (as under the request middleware,
where each query also feeds the scope's N+1 analysis; the scope's opening
and closing are timed with its queries). The ratio is the median of the
per-round ratios, each pair having run moments apart.

Target: under 1.5x the uninstrumented query. A primary-key lookup on a
local SQLite file is about the cheapest query Django can run, so this is the
worst case: on a networked database the same overhead is a smaller share.
"""

from __future__ import annotations

import time

from django.db import connection

from apps.shop.models import Customer
from perfprobe import monitoring
from perfprobe.db import installer, instrument

from .harness import Row, compare, format_ns, format_ratio, format_timing, interleave

TARGET_RATIO = 1.5
_CUSTOMERS = 20


def _seed() -> int:
    Customer.objects.bulk_create(
        Customer(name=f"Bench customer {i}", email=f"bench{i}@example.com")
        for i in range(_CUSTOMERS)
    )
    first = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
    assert first is not None
    return first


def _recorder_attached() -> bool:
    return any(w is instrument.recorder for w in connection.execute_wrappers)


def run(quick: bool) -> list[Row]:
    """Return one row per instrumented variant, against the bare query."""
    pk = _seed()
    monitor = monitoring.monitor
    monitor.reset()
    clock = time.perf_counter_ns

    def queries(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            Customer.objects.filter(pk=pk).first()
        return clock() - start

    def off(ops: int) -> int:
        installer.uninstall()
        assert not _recorder_attached()
        return queries(ops)

    def on(ops: int) -> int:
        installer.install()
        assert _recorder_attached()
        return queries(ops)

    def on_in_scope(ops: int) -> int:
        installer.install()
        start = clock()
        with monitor.scope("bench.queries"):
            queries(ops)
        return clock() - start

    ops = 50
    rounds = 25 if quick else 121
    was_installed = installer.is_installed()
    try:
        timings = interleave(
            [("off", off), ("on", on), ("scope", on_in_scope)], ops, rounds
        )
        snapshot = monitor.collector.snapshot()
    finally:
        if was_installed:
            installer.install()
        else:
            installer.uninstall()
        monitor.reset()

    # Guard against a recorder that silently records nothing: the ratio
    # would then look perfect.
    recorded = snapshot.query_total.count if snapshot.query_total else 0
    expected = 2 * ops * (rounds + 1)
    if recorded != expected:
        raise AssertionError(f"recorder saw {recorded} queries, expected {expected}")

    rows = []
    for label, variant in (
        ("query: recorder on", "on"),
        ("query: on, in scope", "scope"),
    ):
        comparison = compare(timings[variant], timings["off"])
        rows.append(
            Row(
                benchmark=label,
                baseline=f"off {format_timing(timings['off'])}",
                measured=format_timing(timings[variant]),
                ratio=format_ratio(comparison),
                detail=f"+{format_ns(comparison.difference_ns)}/query",
                target=f"ratio < {TARGET_RATIO}x",
                passed=comparison.ratio < TARGET_RATIO,
            )
        )
    return rows
