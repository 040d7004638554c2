"""Read one ``runs`` record into typed figures keyed for comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .runs import SEVERITIES, count, field, items, seconds, text

# What a timing row measures, in the order the comparison shows them.
TIMING_KINDS = ("scenario", "operation", "endpoint")
# What a count row counts. N+1 counts are 0 in a run without the finding;
# the others are unknown in a run that lacks their scenario or endpoint.
QUERIES = "queries"
FAILED_RUNS = "failed runs"
N_PLUS_ONE = "N+1 queries"
COUNT_KINDS = (QUERIES, N_PLUS_ONE, FAILED_RUNS)
ALL_QUERIES = "whole report"


class MetricKey(NamedTuple):
    """A scenario, operation or endpoint by name."""

    kind: str
    name: str


class CountKey(NamedTuple):
    """One exactly compared count: what is counted, and where."""

    kind: str
    name: str


@dataclass(frozen=True)
class RunFigures:
    """The figures of one run: per-run p50 and p95 in seconds, exact counts.

    A scenario's p50 and p95 are both its duration: it ran once in the run.
    """

    timings: dict[MetricKey, tuple[float, float]]
    counts: dict[CountKey, int]
    recommendations: dict[str, int]


def n_plus_one_name(fingerprint: str, call_site: str | None) -> str:
    """Return the name that identifies an N+1 finding across reports."""
    return f"{call_site or '(no call site)'}: {fingerprint}"


def read_run(record: Any, where: str) -> RunFigures:
    """Return the figures of one ``runs`` record; raise ``ReportFormatError``."""
    timings: dict[MetricKey, tuple[float, float]] = {}
    counts: dict[CountKey, int] = {}
    counts[CountKey(QUERIES, ALL_QUERIES)] = count(
        field(record, "queries", where), f"{where}.queries"
    )
    _read_scenarios(
        field(record, "scenarios", where), f"{where}.scenarios", timings, counts
    )
    _read_operations(field(record, "operations", where), f"{where}.operations", timings)
    _read_endpoints(
        field(record, "endpoints", where), f"{where}.endpoints", timings, counts
    )
    for index, finding in enumerate(
        items(field(record, "n_plus_one", where), f"{where}.n_plus_one")
    ):
        at = f"{where}.n_plus_one[{index}]"
        call_site = field(finding, "call_site", at)
        name = n_plus_one_name(
            text(field(finding, "fingerprint", at), f"{at}.fingerprint"),
            None if call_site is None else text(call_site, f"{at}.call_site"),
        )
        key = CountKey(N_PLUS_ONE, name)
        counts[key] = counts.get(key, 0) + count(
            field(finding, "count", at), f"{at}.count"
        )
    severities = field(record, "recommendations", where)
    recommendations = {
        severity: count(
            field(severities, severity, f"{where}.recommendations"),
            f"{where}.recommendations.{severity}",
        )
        for severity in SEVERITIES
    }
    return RunFigures(timings=timings, counts=counts, recommendations=recommendations)


def _read_scenarios(
    value: Any,
    where: str,
    timings: dict[MetricKey, tuple[float, float]],
    counts: dict[CountKey, int],
) -> None:
    for index, scenario in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        name = text(field(scenario, "name", at), f"{at}.name")
        duration_s = seconds(field(scenario, "duration_s", at), f"{at}.duration_s")
        timings[MetricKey("scenario", name)] = (duration_s, duration_s)
        counts[CountKey(QUERIES, f"scenario {name}")] = count(
            field(scenario, "query_count", at), f"{at}.query_count"
        )
        status = text(field(scenario, "status", at), f"{at}.status")
        counts[CountKey(FAILED_RUNS, f"scenario {name}")] = int(status != "ok")


def _read_operations(
    value: Any, where: str, timings: dict[MetricKey, tuple[float, float]]
) -> None:
    for index, operation in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        name = text(field(operation, "name", at), f"{at}.name")
        timings[MetricKey("operation", name)] = _p50_p95(operation, at)


def _read_endpoints(
    value: Any,
    where: str,
    timings: dict[MetricKey, tuple[float, float]],
    counts: dict[CountKey, int],
) -> None:
    for index, endpoint in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        method = text(field(endpoint, "method", at), f"{at}.method")
        route = text(field(endpoint, "route", at), f"{at}.route")
        name = f"{method} {route}"
        # An endpoint whose requests all failed before timing has no p50.
        if field(endpoint, "p50", at) is not None:
            timings[MetricKey("endpoint", name)] = _p50_p95(endpoint, at)
        counts[CountKey(QUERIES, f"endpoint {name}")] = count(
            field(endpoint, "query_count", at), f"{at}.query_count"
        )


def _p50_p95(record: Any, where: str) -> tuple[float, float]:
    return (
        seconds(field(record, "p50", where), f"{where}.p50"),
        seconds(field(record, "p95", where), f"{where}.p95"),
    )
