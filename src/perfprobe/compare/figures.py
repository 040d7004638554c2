"""Read one ``runs`` record into typed figures keyed for comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from ..report.fmt import shorten, shorten_sql
from .runs import (
    SEVERITIES,
    ReportFormatError,
    count,
    field,
    items,
    seconds,
    text,
)
from .stats import CountRange

# What a timing row measures, in the order the comparison shows them.
TIMING_KINDS = ("scenario", "operation", "endpoint")
# What a count row counts. N+1 counts are 0 in a run without the finding;
# the others are unknown in a run that lacks their scenario or endpoint.
QUERIES = "queries"
FAILED_RUNS = "failed runs"
N_PLUS_ONE = "N+1 queries"
COUNT_KINDS = (QUERIES, N_PLUS_ONE, FAILED_RUNS)
ALL_QUERIES = "whole report"
# What one value of a count counts: a run's total, one request of an
# endpoint, one scope of an N+1 finding.
PER_RUN = "run"
PER_REQUEST = "request"
PER_SCOPE = "scope"
_ENDPOINT = "endpoint "


class MetricKey(NamedTuple):
    """A scenario, operation or endpoint by name."""

    kind: str
    name: str


class CountKey(NamedTuple):
    """One exactly compared count: what is counted, and where."""

    kind: str
    name: str


#: The most characters of a count's place in the table's ``Where`` column.
PLACE_CHARS = 90
#: The most in a line of the result (and so of the gate's message), which
#: has a line of its own: only an ORM query's long column list goes.
RESULT_PLACE_CHARS = 200
#: The fewest characters an N+1's query keeps beside a long call site.
PLACE_SQL_FLOOR = 30


def count_place(key: CountKey, width: int = PLACE_CHARS) -> str:
    """Return where ``key`` counts, at most ``width`` characters long.

    An N+1 finding's query is shortened as the report shortens it (its
    column list first), so the table and WHERE clause that tell two
    findings apart stay in sight beside the call site.
    """
    if key.kind == N_PLUS_ONE:
        site, sep, sql = key.name.partition(": ")
        if sep and sql:
            budget = max(width - len(site) - len(sep), PLACE_SQL_FLOOR)
            return shorten(f"{site}{sep}{shorten_sql(sql, budget)}", width)
    return shorten(key.name, width)


class FindingId(NamedTuple):
    """What identifies an N+1 finding: where it is and what it loads.

    ``file`` and ``line`` come from its call site (``None`` without one, or
    ``line`` ``None`` when the site names no line); ``relation`` is the
    lazy-loaded relation as ``"Model.field"``, ``None`` when the queries
    were no lazy load; ``function`` the qualified name of the function the
    call site is in (``"BookList.get"``, ``"<module>"`` outside any),
    ``None`` when unknown.
    """

    file: str | None
    line: int | None
    fingerprint: str
    relation: str | None
    function: str | None = None


class Workload(NamedTuple):
    """The work a run shows: its scenarios, its requests per endpoint, and the
    scopes it closed (``None`` in a record written before they were kept)."""

    scenarios: tuple[str, ...]
    requests: tuple[tuple[str, int], ...]
    scopes: int | None


@dataclass(frozen=True)
class RunFigures:
    """The figures of one run: per-run p50 and p95 in seconds, exact counts.

    A scenario's p50 and p95 are both its duration: it ran once in the run.
    ``counts`` are the run's totals. ``per_unit`` holds, for each endpoint
    with a counted request, the fewest and most queries one of its requests
    made, and for each N+1 finding the most queries it made in one scope (a
    range of one value); ``None`` where the record does not say (one written
    before they were kept).
    """

    timings: dict[MetricKey, tuple[float, float]]
    counts: dict[CountKey, int]
    recommendations: dict[str, int]
    per_unit: dict[CountKey, CountRange | None]
    workload: Workload
    #: The samples behind each timing in the run: an operation's calls, an
    #: endpoint's requests, 1 for a scenario.
    samples: dict[MetricKey, int]
    #: What identifies each N+1 finding of ``counts``, by its key.
    findings: dict[CountKey, FindingId]
    #: Whether every finding's record names its relation (older ones do not).
    relations_known: bool = True
    #: Whether every finding's record has its function (older ones do not).
    functions_known: bool = False


def unit_of(key: CountKey) -> str:
    """Return what one value of the count ``key`` counts."""
    if key.kind == N_PLUS_ONE:
        return PER_SCOPE
    if key.kind == QUERIES and key.name.startswith(_ENDPOINT):
        return PER_REQUEST
    return PER_RUN


K = TypeVar("K", MetricKey, CountKey)


def ordered_keys(mappings: list[dict[K, Any]]) -> list[K]:
    """Return the keys of ``mappings`` in first-seen order (the report's own)."""
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def n_plus_one_name(fingerprint: str, call_site: str | None) -> str:
    """Return the name that identifies an N+1 finding across reports."""
    return f"{call_site or '(no call site)'}: {fingerprint}"


def read_run(record: Any, where: str) -> RunFigures:
    """Return the figures of one ``runs`` record; raise ``ReportFormatError``."""
    timings: dict[MetricKey, tuple[float, float]] = {}
    samples: dict[MetricKey, int] = {}
    counts: dict[CountKey, int] = {}
    per_unit: dict[CountKey, CountRange | None] = {}
    counts[CountKey(QUERIES, ALL_QUERIES)] = count(
        field(record, "queries", where), f"{where}.queries"
    )
    _read_scenarios(
        field(record, "scenarios", where), f"{where}.scenarios", timings, counts
    )
    _read_operations(
        field(record, "operations", where), f"{where}.operations", timings, samples
    )
    requests = _read_endpoints(
        field(record, "endpoints", where),
        f"{where}.endpoints",
        timings,
        counts,
        per_unit,
    )
    for key in timings:
        if key.kind == "scenario":
            samples[key] = 1
        elif key.kind == "endpoint":
            samples[key] = requests[key.name]
    findings: dict[CountKey, FindingId] = {}
    relations_known, functions_known = _read_n_plus_one(
        field(record, "n_plus_one", where),
        f"{where}.n_plus_one",
        counts,
        per_unit,
        findings,
    )
    severities = field(record, "recommendations", where)
    recommendations = {
        severity: count(
            field(severities, severity, f"{where}.recommendations"),
            f"{where}.recommendations.{severity}",
        )
        for severity in SEVERITIES
    }
    scenarios = tuple(sorted(key.name for key in timings if key.kind == "scenario"))
    served = tuple(sorted((name, n) for name, n in requests.items() if n))
    closed = record.get("scopes_closed")
    scopes = None if closed is None else count(closed, f"{where}.scopes_closed")
    return RunFigures(
        timings=timings,
        counts=counts,
        recommendations=recommendations,
        per_unit=per_unit,
        workload=Workload(scenarios, served, scopes),
        samples=samples,
        findings=findings,
        relations_known=relations_known,
        functions_known=functions_known,
    )


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
    value: Any,
    where: str,
    timings: dict[MetricKey, tuple[float, float]],
    samples: dict[MetricKey, int],
) -> None:
    for index, operation in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        name = text(field(operation, "name", at), f"{at}.name")
        key = MetricKey("operation", name)
        timings[key] = _p50_p95(operation, at)
        samples[key] = count(field(operation, "count", at), f"{at}.count")


def _read_endpoints(
    value: Any,
    where: str,
    timings: dict[MetricKey, tuple[float, float]],
    counts: dict[CountKey, int],
    per_unit: dict[CountKey, CountRange | None],
) -> dict[str, int]:
    """Read the endpoints; return each one's number of requests."""
    requests = {}
    for index, endpoint in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        method = text(field(endpoint, "method", at), f"{at}.method")
        route = text(field(endpoint, "route", at), f"{at}.route")
        name = f"{method} {route}"
        # An endpoint whose requests all failed before timing has no p50.
        if field(endpoint, "p50", at) is not None:
            timings[MetricKey("endpoint", name)] = _p50_p95(endpoint, at)
        key = CountKey(QUERIES, f"{_ENDPOINT}{name}")
        counts[key] = count(field(endpoint, "query_count", at), f"{at}.query_count")
        if "queries_per_request" not in endpoint:
            # A record written before perfprobe kept the figure.
            per_unit[key] = None
        elif endpoint["queries_per_request"] is not None:
            per_unit[key] = _per_request(
                endpoint["queries_per_request"], f"{at}.queries_per_request"
            )
        # Null: no request of the endpoint was counted in the run.
        requests[name] = count(field(endpoint, "count", at), f"{at}.count")
    return requests


def _per_request(value: Any, at: str) -> CountRange:
    low = count(field(value, "min", at), f"{at}.min")
    high = count(field(value, "max", at), f"{at}.max")
    if low > high:
        raise ReportFormatError(f"{at}.min is above {at}.max: {low} > {high}")
    return CountRange(low, high)


def _read_n_plus_one(
    value: Any,
    where: str,
    counts: dict[CountKey, int],
    per_unit: dict[CountKey, CountRange | None],
    findings: dict[CountKey, FindingId],
) -> tuple[bool, bool]:
    """Read the N+1 findings; return whether each names its relation, its function."""
    relations_known = functions_known = True
    for index, finding in enumerate(items(value, where)):
        at = f"{where}[{index}]"
        raw_site = field(finding, "call_site", at)
        call_site = None if raw_site is None else text(raw_site, f"{at}.call_site")
        fingerprint = text(field(finding, "fingerprint", at), f"{at}.fingerprint")
        key = CountKey(N_PLUS_ONE, n_plus_one_name(fingerprint, call_site))
        relation = finding.get("lazy_load")
        if "lazy_load" not in finding:
            relations_known = False
        elif relation is not None:
            relation = text(relation, f"{at}.lazy_load")
        function = finding.get("function")
        if "function" not in finding:
            functions_known = False
        elif function is not None:
            function = text(function, f"{at}.function")
        known = findings.get(key)
        if known is None or known.relation is None or known.function is None:
            # A finding listed twice keeps what either entry knows.
            file, line = split_call_site(call_site)
            findings[key] = FindingId(
                file,
                line,
                fingerprint,
                relation if known is None else known.relation or relation,
                function if known is None else known.function or function,
            )
        counts[key] = counts.get(key, 0) + count(
            field(finding, "count", at), f"{at}.count"
        )
        # Optional, as above; a finding listed twice keeps its larger figure.
        raw = finding.get("max_count_per_scope")
        most = None if raw is None else count(raw, f"{at}.max_count_per_scope")
        if key in per_unit:
            earlier = per_unit[key]
            most = None if most is None or earlier is None else max(most, earlier.high)
        per_unit[key] = None if most is None else CountRange(most, most)
    return relations_known, functions_known


#: A line number longer than this is no line of a source file.
_MAX_LINE_DIGITS = 9


def split_call_site(call_site: str | None) -> tuple[str | None, int | None]:
    """Return the file and line of ``"path/to/file.py:42"``.

    A site without a ``:line`` ending is all file, with no line, and so is
    one whose "line" has more digits than any file has lines (``int()``
    refuses over 4,300 digits).
    """
    if call_site is None:
        return None, None
    file, colon, line = call_site.rpartition(":")
    if colon and line.isascii() and line.isdigit() and len(line) <= _MAX_LINE_DIGITS:
        return file, int(line)
    return call_site, None


def _p50_p95(record: Any, where: str) -> tuple[float, float]:
    return (
        seconds(field(record, "p50", where), f"{where}.p50"),
        seconds(field(record, "p95", where), f"{where}.p95"),
    )
