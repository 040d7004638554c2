"""Reduce a report to the figures of one run: the records kept in ``runs``.

A record holds, per scenario, operation and endpoint, the timings and counts
a comparison needs (median and p95 in seconds, call and query counts, the
fewest and most queries of one request), the scopes closed, the N+1 findings
(with the most queries each made in one scope) and the recommendations by
severity. It is
built from report data (``Report.to_dict()`` or loaded JSON) and checked on
the way, so that a file that is not a perfprobe report fails with a message
naming the field.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

SEVERITIES = ("critical", "warning", "info")


class ReportFormatError(ValueError):
    """Report data lacks a field the comparison reads, or holds a wrong type."""


def field(data: Any, key: str, where: str) -> Any:
    """Return ``data[key]``; raise ``ReportFormatError`` naming ``where.key``."""
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"{where or 'the report'} is not a JSON object")
    if key not in data:
        raise ReportFormatError(f"{_join(where, key)} is missing")
    return data[key]


def seconds(value: Any, where: str) -> float:
    """Return ``value`` as a finite, non-negative number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportFormatError(f"{where} is not a number: {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ReportFormatError(f"{where} is not a finite number >= 0: {value!r}")
    return float(value)


def count(value: Any, where: str) -> int:
    """Return ``value`` as a whole number >= 0 (``3.0`` is accepted as 3)."""
    if type(value) is int and value >= 0:
        # Exact: through a float, counts past 2**53 would round together.
        return value
    number = seconds(value, where)
    if not number.is_integer():
        raise ReportFormatError(f"{where} is not a whole number: {value!r}")
    return int(number)


def text(value: Any, where: str) -> str:
    """Return ``value`` if it is a string."""
    if not isinstance(value, str):
        raise ReportFormatError(f"{where} is not a string: {value!r}")
    return value


def items(value: Any, where: str) -> list[Any]:
    """Return ``value`` if it is a list."""
    if not isinstance(value, list):
        raise ReportFormatError(f"{where} is not a list")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def run_record(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return the figures of the run ``report`` describes, as a ``runs`` entry.

    Raise ``ReportFormatError`` naming the first field that is missing or of
    the wrong type.
    """
    record = {
        "generated_at": text(field(report, "generated_at", ""), "generated_at"),
        "scenarios": _scenarios(report),
        "operations": _operations(report),
        "endpoints": _endpoints(report),
        "queries": _query_total(report),
        "n_plus_one": _n_plus_one(report),
        "recommendations": _recommendations(report),
    }
    # Every report perfprobe wrote counts its scopes; data without the count
    # shows its work by scenarios and requests alone.
    closed = field(report, "n_plus_one", "").get("scopes_analysed")
    if closed is not None:
        record["scopes_closed"] = count(closed, "n_plus_one.scopes_analysed")
    return record


def _scenarios(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = []
    for index, scenario in enumerate(
        items(field(report, "scenarios", ""), "scenarios")
    ):
        where = f"scenarios[{index}]"
        records.append(
            {
                "name": text(field(scenario, "name", where), f"{where}.name"),
                "status": text(field(scenario, "status", where), f"{where}.status"),
                "duration_s": seconds(
                    field(scenario, "duration_s", where), f"{where}.duration_s"
                ),
                "query_count": count(
                    field(scenario, "query_count", where), f"{where}.query_count"
                ),
            }
        )
    return records


def _operations(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = []
    for index, operation in enumerate(
        items(field(report, "operations", ""), "operations")
    ):
        where = f"operations[{index}]"
        stats = field(operation, "stats", where)
        records.append(
            {
                "name": text(field(operation, "name", where), f"{where}.name"),
                **_timing(stats, f"{where}.stats"),
            }
        )
    return records


def _endpoints(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = []
    for index, endpoint in enumerate(
        items(field(report, "endpoints", ""), "endpoints")
    ):
        where = f"endpoints[{index}]"
        stats = field(endpoint, "stats", where)
        query_counts = field(endpoint, "query_counts", where)
        queries = 0
        if query_counts is not None:
            queries = count(
                field(query_counts, "total", f"{where}.query_counts"),
                f"{where}.query_counts.total",
            )
        timing: dict[str, Any] = {
            "count": count(field(endpoint, "count", where), f"{where}.count"),
            "p50": None,
            "p95": None,
        }
        if stats is not None:
            timing = _timing(stats, f"{where}.stats")
        record = {
            "method": text(field(endpoint, "method", where), f"{where}.method"),
            "route": text(field(endpoint, "route", where), f"{where}.route"),
            **timing,
            "query_count": queries,
        }
        # The fewest and most queries one request made; null when no request
        # was counted. Every report perfprobe wrote has both in its
        # statistics; data without them compares per run, as a record written
        # before ``queries_per_request`` existed does.
        if query_counts is None:
            record["queries_per_request"] = None
        elif "min" in query_counts and "max" in query_counts:
            record["queries_per_request"] = {
                "min": count(query_counts["min"], f"{where}.query_counts.min"),
                "max": count(query_counts["max"], f"{where}.query_counts.max"),
            }
        records.append(record)
    return records


def _timing(stats: Any, where: str) -> dict[str, Any]:
    return {
        "count": count(field(stats, "count", where), f"{where}.count"),
        "p50": seconds(field(stats, "p50", where), f"{where}.p50"),
        "p95": seconds(field(stats, "p95", where), f"{where}.p95"),
    }


def _query_total(report: Mapping[str, Any]) -> int:
    total = field(field(report, "queries", ""), "total", "queries")
    if total is None:
        return 0
    return count(field(total, "count", "queries.total"), "queries.total.count")


def _n_plus_one(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    section = field(report, "n_plus_one", "")
    aggregated = items(field(section, "aggregated", "n_plus_one"), "n_plus_one")
    records = []
    for index, finding in enumerate(aggregated):
        where = f"n_plus_one.aggregated[{index}]"
        call_site = field(finding, "call_site", where)
        record = {
            "fingerprint": text(
                field(finding, "fingerprint", where), f"{where}.fingerprint"
            ),
            "call_site": None
            if call_site is None
            else text(call_site, f"{where}.call_site"),
            "count": count(field(finding, "count", where), f"{where}.count"),
        }
        # The lazy-loaded relation ("Book.author", null for none), which
        # matches a finding across reports whose line moved. Records written
        # before it was kept lack the key.
        if "lazy_load" in finding:
            record["lazy_load"] = _relation(finding["lazy_load"], f"{where}.lazy_load")
        # The function its call site is in ("BookList.get", null when the
        # source was not read), which tells apart findings of one file whose
        # query and relation are the same. Absent from older records.
        if "function" in finding:
            function = finding["function"]
            record["function"] = (
                None if function is None else text(function, f"{where}.function")
            )
        # Reports written before findings were merged per scope lack it.
        if "max_count_per_scope" in finding:
            record["max_count_per_scope"] = count(
                finding["max_count_per_scope"], f"{where}.max_count_per_scope"
            )
        records.append(record)
    return records


def _relation(lazy_load: Any, where: str) -> str | None:
    """Return a finding's lazy load as ``"Model.field"``, ``None`` for none."""
    if lazy_load is None:
        return None
    model = text(field(lazy_load, "model", where), f"{where}.model")
    name = text(field(lazy_load, "field", where), f"{where}.field")
    return f"{model}.{name}"


def _recommendations(report: Mapping[str, Any]) -> dict[str, int]:
    found = items(field(report, "recommendations", ""), "recommendations")
    severities: Counter[str] = Counter()
    for index, recommendation in enumerate(found):
        where = f"recommendations[{index}]"
        severities[
            text(field(recommendation, "severity", where), f"{where}.severity")
        ] += 1
    return {severity: severities.get(severity, 0) for severity in SEVERITIES}
