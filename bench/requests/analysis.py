"""Order the rounds, compare each configuration to the baseline, judge targets.

Pure functions on plain numbers, so the tests can check them by hand.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import relative_spread

#: Targets of issue 4, for perfprobe with default settings.
NO_QUERY_MAX_ADDED_NS = 5_000
NO_QUERY_MIN_RATIO = 0.95
N_PLUS_ONE_MAX_ADDED_NS_PER_QUERY = 5_000
N_PLUS_ONE_MIN_RATIO = 0.97
CHEAPER_FACTOR = 10.0


def round_orders(names: Sequence[str], pairs: int) -> list[list[str]]:
    """Return ``2 * pairs`` run orders: rows of a Williams design, each then reversed.

    A B C D then D C B A: over a pair every configuration sits at the same
    mean position, so a drift of the machine that is linear over the pair
    adds the same time to all of them. The forward orders are the rows of a
    Williams Latin square (first row 0, 1, n-1, 2, n-2, ..., then each row
    shifted by one), so that over ``len(names)`` pairs every configuration
    runs right after every other one exactly twice. Plain rotations made each
    configuration follow the same neighbour in every forward round (the
    baseline the last-named tool), so whatever a batch leaves behind in the
    machine's caches would have landed on one configuration only. No such
    effect was measured (see bench/requests/README.md); the balanced order
    rules it out at no cost.
    """
    count = len(names)
    first = [0]
    low, high = 1, count - 1
    while len(first) < count:
        if len(first) % 2:
            first.append(low)
            low += 1
        else:
            first.append(high)
            high -= 1
    orders: list[list[str]] = []
    for pair in range(pairs):
        shift = pair % count
        order = [names[(index + shift) % count] for index in first]
        orders += [order, order[::-1]]
    return orders


def spread(values: Sequence[float]) -> float:
    """Return the IQR over the median; the full range for fewer than 4 values."""
    if not values:
        return 0.0
    if len(values) >= 4:
        return relative_spread(values)
    median = statistics.median(values)
    return (max(values) - min(values)) / median if median else 0.0


def pair_means(per_round: Sequence[float]) -> list[float]:
    """Return the mean of each round pair (rounds 0-1, 2-3, ...)."""
    return [
        (per_round[i] + per_round[i + 1]) / 2 for i in range(0, len(per_round) - 1, 2)
    ]


@dataclass(frozen=True)
class ViewResult:
    """One configuration on one view, against the baseline in the same pairs."""

    requests_per_s: float
    requests_per_s_spread: float
    #: Baseline time over this configuration's, i.e. the throughput kept.
    ratio: float
    ratio_spread: float
    added_ns: float
    added_ns_per_query: float | None


def compare(
    measured_ns: Sequence[float], baseline_ns: Sequence[float], queries: int
) -> ViewResult:
    """Compare per-request times of one configuration to the baseline's.

    Both sequences hold one per-request time per round, from the same
    rounds. Every figure is computed per round pair and the median over the
    pairs is reported.
    """
    measured = pair_means(measured_ns)
    baseline = pair_means(baseline_ns)
    rates = [1e9 / m for m in measured]
    ratios = [b / m for m, b in zip(measured, baseline, strict=True)]
    added = statistics.median(m - b for m, b in zip(measured, baseline, strict=True))
    return ViewResult(
        requests_per_s=statistics.median(rates),
        requests_per_s_spread=spread(rates),
        ratio=statistics.median(ratios),
        ratio_spread=spread(ratios),
        added_ns=added,
        added_ns_per_query=added / queries if queries else None,
    )


@dataclass(frozen=True)
class Target:
    """One target of the issue, checked on this run's figures.

    ``value`` is the figure judged (µs, a share or a factor, as
    ``measured`` shows it), ``None`` when there is none (not run, or a
    yes/no target); ``unit`` and ``digits`` say how to print it.
    """

    description: str
    measured: str
    passed: bool
    value: float | None = None
    unit: str = ""
    digits: int = 1

    @property
    def verdict(self) -> str:
        """Return ``PASS`` or ``MISS``."""
        return "PASS" if self.passed else "MISS"

    def show(self, value: float) -> str:
        """Return ``value`` printed as this target prints its figure."""
        return f"{value:.{self.digits}f}{self.unit}"


def check_targets(
    no_query: Mapping[str, ViewResult] | None,
    n_plus_one: Mapping[str, ViewResult] | None,
    perfprobe: str,
    found_n_plus_one: bool,
    detectors: Sequence[str],
) -> list[Target]:
    """Check perfprobe's targets; a configuration missing from a view misses.

    A view passed as ``None`` was not run: its targets are left out.
    ``detectors`` are the configurations, other than perfprobe, that point
    out N+1 queries and ran; perfprobe must add a tenth of each one's cost
    per request at most.
    """
    targets: list[Target] = []
    if no_query is not None:
        targets += _no_query_targets(no_query.get(perfprobe), perfprobe)
    if n_plus_one is not None:
        targets += _n_plus_one_targets(
            n_plus_one, perfprobe, found_n_plus_one, detectors
        )
    return targets


def _no_query_targets(fast: ViewResult | None, perfprobe: str) -> list[Target]:
    added_us = fast.added_ns / 1000 if fast else None
    return [
        Target(
            f"no-query view: {perfprobe} adds <= {NO_QUERY_MAX_ADDED_NS / 1000:g} "
            "µs/request",
            f"{added_us:.1f} µs" if added_us is not None else "not run",
            fast is not None and fast.added_ns <= NO_QUERY_MAX_ADDED_NS,
            added_us,
            " µs",
        ),
        Target(
            f"no-query view: {perfprobe} keeps >= {NO_QUERY_MIN_RATIO} of baseline",
            f"{fast.ratio:.3f}" if fast else "not run",
            fast is not None and fast.ratio >= NO_QUERY_MIN_RATIO,
            fast.ratio if fast else None,
            digits=3,
        ),
    ]


def _n_plus_one_targets(
    n_plus_one: Mapping[str, ViewResult],
    perfprobe: str,
    found_n_plus_one: bool,
    detectors: Sequence[str],
) -> list[Target]:
    slow = n_plus_one.get(perfprobe)
    per_query = slow.added_ns_per_query if slow else None
    targets = [
        Target(
            f"N+1 view: {perfprobe} adds <= "
            f"{N_PLUS_ONE_MAX_ADDED_NS_PER_QUERY / 1000:g} µs/query",
            f"{per_query / 1000:.2f} µs" if per_query is not None else "not run",
            per_query is not None and per_query <= N_PLUS_ONE_MAX_ADDED_NS_PER_QUERY,
            per_query / 1000 if per_query is not None else None,
            " µs",
            2,
        ),
        Target(
            f"N+1 view: {perfprobe} keeps >= {N_PLUS_ONE_MIN_RATIO} of baseline",
            f"{slow.ratio:.3f}" if slow else "not run",
            slow is not None and slow.ratio >= N_PLUS_ONE_MIN_RATIO,
            slow.ratio if slow else None,
            digits=3,
        ),
        Target(
            f"N+1 view: {perfprobe} found and reported the N+1",
            "yes" if found_n_plus_one else "no",
            found_n_plus_one,
        ),
    ]
    for tool in detectors:
        other = n_plus_one[tool]
        ok = slow is not None and other.added_ns >= CHEAPER_FACTOR * slow.added_ns
        factor = other.added_ns / slow.added_ns if slow and slow.added_ns > 0 else None
        targets.append(
            Target(
                f"N+1 view: {perfprobe} >= {CHEAPER_FACTOR:g}x cheaper than {tool}",
                f"{f'{factor:.1f}x' if factor is not None else 'n/a'} "
                f"({other.added_ns / 1000:.0f} µs vs "
                f"{slow.added_ns / 1000:.1f} µs)"
                if slow
                else "not run",
                ok,
                factor,
                "x",
            )
        )
    return targets


@dataclass(frozen=True)
class CollectorResult:
    """The cyclic collector's cost in one configuration on one view.

    A separate steady-state measurement (the worker's ``gc`` command): no
    forced collection, one run, no interleaving with the baseline.
    """

    requests: int
    warmup: int
    #: Time inside collections per request, all generations.
    ns_per_request: float
    #: Collections per request of generations 0, 1 and 2.
    per_request: tuple[float, float, float]
    #: Timed added time per query plus this collector time over the
    #: baseline's, for views with queries; ``None`` otherwise.
    added_ns_per_query: float | None


def collector_results(
    answers: Mapping[str, Mapping[str, Any]],
    timed: Mapping[str, ViewResult],
    baseline: str,
    queries: int,
) -> dict[str, CollectorResult]:
    """Turn the workers' ``gc`` answers for one view into per-request figures.

    ``answers`` holds per configuration the worker's answer (``requests``,
    ``warmup``, ``counts`` and ``ns`` per generation). With queries, the
    added time per query including the collector is (timed added time per
    request + collector time per request - the baseline's) / queries; it
    needs the baseline's answer and the configuration's timed result.
    """
    per_request_ns: dict[str, float] = {}
    for name, answer in answers.items():
        served = int(answer["requests"])
        total = sum(answer["ns"])
        per_request_ns[name] = total / served if served else 0.0
    base_ns = per_request_ns.get(baseline)
    results: dict[str, CollectorResult] = {}
    for name, answer in answers.items():
        served = int(answer["requests"])
        counts = [int(c) for c in answer["counts"]]
        per_query = None
        result = timed.get(name)
        if queries and base_ns is not None and result is not None:
            per_query = (result.added_ns + per_request_ns[name] - base_ns) / queries
        results[name] = CollectorResult(
            requests=served,
            warmup=int(answer["warmup"]),
            ns_per_request=per_request_ns[name],
            per_request=(
                counts[0] / served if served else 0.0,
                counts[1] / served if served else 0.0,
                counts[2] / served if served else 0.0,
            ),
            added_ns_per_query=per_query,
        )
    return results
