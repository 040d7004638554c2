"""Tests for the fold's per-fingerprint durations, added once per batch.

A batch folds the raw queries of every request scope that waited: each
scope's run of a statement is a group, and the fingerprint's figures take
all of them in one ``MetricStats.add_runs``. Its running total must still
add each run's sum in turn, as one ``add_many`` per run did.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from pytest_django import Settings

from perfprobe.collector import Collector
from perfprobe.requestscope import RequestScope
from perfprobe.stats import MetricStats

from .test_requestrecorder_pending import SITES, SQL_A, SQL_B, end_request, open_request

Query = tuple[str, int, float, str]


def request_runs(rng: random.Random, count: int) -> list[list[Query]]:
    """Return ``count`` requests: a list query, then an N+1 of 20 to 60 loads.

    Durations are not multiples of a power of two, so sums taken in
    another order differ in their last bits.
    """
    made = []
    for index in range(count):
        loads = rng.randrange(20, 61)
        made.append(
            [(SQL_B, index, rng.uniform(2e-4, 9e-4), SITES[1])]
            + [
                (SQL_A, 1_000 * index + k, rng.lognormvariate(-8.5, 0.7), SITES[0])
                for k in range(loads)
            ]
        )
    return made


def played(requests: list[list[Query]]) -> dict[str, Any]:
    """End each request in a fresh collector; return its per-fingerprint figures."""
    collector = Collector()
    for queries in requests:
        scope = open_request(collector, "/lazy/")
        end_request(collector, scope, "/lazy/", queries)
    snapshot = collector.snapshot()
    return {
        fingerprint: (data["stats"], data["call_sites"], data["aliases"])
        for fingerprint, data in snapshot.queries.items()
    }


def test_a_fingerprints_total_adds_each_scopes_run_in_turn() -> None:
    """Four waiting requests: the N+1's total is ((s1 + s2) + s3) + s4, bit for bit.

    ``s1`` to ``s4`` are each request's own sum of its loads, the figure
    one ``add_many`` per request's run added; the sum of all 4 runs' loads
    taken in one go differs from it in the last bits for this seed.
    """
    requests = request_runs(random.Random(4), 4)
    figures = played(requests)

    sums = [sum(q[2] for q in queries[1:]) for queries in requests]
    expected = 0.0
    for run_total in sums:
        expected += run_total
    loads = [q[2] for queries in requests for q in queries[1:]]
    assert sum(loads) != expected
    stats = next(s for fp, (s, _, _) in figures.items() if "customer" in fp)
    assert stats.count == len(loads)
    assert stats.total == expected
    assert (stats.min, stats.max) == (min(loads), max(loads))


@pytest.mark.parametrize("seed", range(12))
def test_the_batched_figures_are_those_of_closing_each_request_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Waiting requests, one fold per batch, give each request's own fold's figures.

    Counts, totals to the last bit, extremes, percentiles exact and from the
    sketch (an exact-sample limit of 150 is passed in the middle of a batch),
    call sites and aliases; some seeds put an infinite duration in one run.
    """
    settings.PERFPROBE = {"EXACT_PERCENTILE_LIMIT": 150}
    rng = random.Random(seed)
    requests = request_runs(rng, rng.randrange(8, 30))
    if seed % 3 == 0:
        sql, params_hash, _, site = requests[2][3]
        requests[2][3] = (sql, params_hash, math.inf, site)

    waiting = played(requests)
    monkeypatch.setattr(RequestScope, "may_wait", False)
    at_once = played(requests)

    assert waiting == at_once
    loads = next(s for fp, (s, _, _) in waiting.items() if "customer" in fp)
    assert loads.count > 150


def test_add_runs_adds_each_runs_sum_in_turn() -> None:
    """Three runs into exact samples, then past the limit into the sketch."""
    rng = random.Random(9)
    runs = [[rng.uniform(0.1, 0.9) for _ in range(n)] for n in (40, 70, 1)]
    one_by_one, joined = MetricStats(100), MetricStats(100)
    for run in runs:
        one_by_one.add_many(run)
    joined.add_runs([v for run in runs for v in run], [sum(run) for run in runs])

    assert joined.total == one_by_one.total
    assert joined.summary() == one_by_one.summary()
    summary = joined.summary()
    assert summary is not None and not summary.exact
