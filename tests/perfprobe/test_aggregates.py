"""Tests for perfprobe.aggregates: every per-metric table keeps to its setting."""

from __future__ import annotations

import dataclasses

from perfprobe.aggregates import OVERFLOW_KEY

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
