"""Tests for perfprobe.prometheus.metrics: the metric set and its registration."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from perfprobe.prometheus.metrics import PerfprobeMetrics

# The six names perfprobe registers, written out by hand.
NAMES = {
    "perfprobe_http_request_duration_seconds",
    "perfprobe_db_queries",
    "perfprobe_db_query_duration_seconds",
    "perfprobe_n_plus_one_findings",
    "perfprobe_duplicate_query_findings",
    "perfprobe_process_resident_memory_bytes",
}


def families(registry: CollectorRegistry) -> set[str]:
    """Return the names of the metric families ``registry`` exposes."""
    return {family.name for family in registry.collect()}


def test_all_or_nothing_every_metric_is_registered() -> None:
    """A free registry ends up with exactly perfprobe's six metric families."""
    registry = CollectorRegistry()
    PerfprobeMetrics(registry)
    assert families(registry) == NAMES


def test_all_or_nothing_a_clash_registers_none_of_them() -> None:
    """A taken name raises and leaves only the other owner's metric registered."""
    registry = CollectorRegistry()
    clash = Counter("perfprobe_db_queries", "someone else's", registry=registry)
    with pytest.raises(ValueError):
        PerfprobeMetrics(registry)
    assert families(registry) == {"perfprobe_db_queries"}
    registry.unregister(clash)
    PerfprobeMetrics(registry)
    assert families(registry) == NAMES
