"""Flag slow queries, N+1 patterns and queries repeated within a scope."""

from __future__ import annotations

from typing import Any

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import format_against, format_duration, plural, shorten
from ..model import Recommendation
from .registry import ReportData, register_rule


def _fp(fingerprint: str) -> str:
    return shorten(fingerprint, 60)


def _slow_events(data: ReportData, threshold_s: float) -> dict[str, list[Any]]:
    events: dict[str, list[Any]] = {}
    for event in data["queries"]["slowest"]:
        if event["duration_s"] > threshold_s:
            events.setdefault(event["fingerprint"], []).append(event)
    return events


@register_rule("slow-query")
def slow_query(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag each query shape whose slowest run was over the slow-query limit."""
    threshold_s = settings.SLOW_QUERY_SECONDS * time_scale
    slow = _slow_events(data, threshold_s)
    shapes = {q["fingerprint"]: q for q in data["queries"]["by_fingerprint"]}
    found = []
    for fingerprint in dict.fromkeys([*slow, *shapes]):
        shape = shapes.get(fingerprint)
        events = slow.get(fingerprint, [])
        durations = [e["duration_s"] for e in events]
        if shape and shape["stats"]:
            durations.append(shape["stats"]["max"])
        max_s = max(durations, default=0.0)
        if not max_s > threshold_s:
            continue
        sites = shape["call_sites"] if shape else []
        call_site = events[0]["call_site"] if events else None
        call_site = call_site or (sites[0]["call_site"] if sites else None)
        sql = shape["sample_sql"] if shape else events[0]["sql"]
        vendor = shape["vendor"] if shape else events[0]["vendor"]
        found.append(
            Recommendation(
                rule_id="slow-query",
                severity="warning",
                title=(
                    f"Slow query took {format_against(max_s, threshold_s)} (limit "
                    f"{format_duration(threshold_s)}): {_fp(fingerprint)}"
                ),
                evidence={
                    "fingerprint": fingerprint,
                    "call_site": call_site,
                    "scope": events[0]["scope"] if events else None,
                    "max_s": max_s,
                    "count": shape["count"] if shape else len(events),
                    "slow_runs_kept": len(events),
                    "threshold_s": threshold_s,
                },
                suggestion=advice.slow_query(sql, vendor, call_site),
                impact_s=sum(e["duration_s"] for e in events) or max_s,
            )
        )
    return found


@register_rule("n-plus-one")
def n_plus_one(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag each N+1 pattern once, however many scopes it was seen in."""
    found = []
    for finding in data["n_plus_one"]["aggregated"]:
        site = finding["call_site"] or "(unknown call site)"
        lazy = finding["lazy_load"]
        evidence = {
            "fingerprint": finding["fingerprint"],
            "call_site": finding["call_site"],
            "count": finding["count"],
            "max_count_per_scope": finding["max_count_per_scope"],
            "distinct_params": finding["distinct_params"],
            "scope_count": finding["scope_count"],
            "scopes": list(finding["scopes"]),
            "total_s": finding["total_s"],
        }
        if lazy:
            evidence["model"] = lazy["model"]
            evidence["field"] = lazy["field"]
        found.append(
            Recommendation(
                rule_id="n-plus-one",
                severity="warning",
                title=(
                    f"N+1 queries at {site}: up to {finding['max_count_per_scope']} "
                    f"per scope, seen in {plural(finding['scope_count'], 'scope')}"
                ),
                evidence=evidence,
                suggestion=advice.n_plus_one(
                    finding["fingerprint"], finding["call_site"], lazy
                ),
                impact_s=finding["total_s"],
            )
        )
    return found


@register_rule("duplicate-queries")
def duplicate_queries(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag identical queries repeated in a scope; warning at N+1 volumes."""
    found = []
    for finding in data["duplicates"]["aggregated"]:
        repeats = finding["max_count_per_scope"]
        found.append(
            Recommendation(
                rule_id="duplicate-queries",
                severity=(
                    "warning" if repeats >= settings.N_PLUS_ONE_MIN_QUERIES else "info"
                ),
                title=(
                    f"Identical query run {repeats} times in one scope: "
                    f"{_fp(finding['fingerprint'])}"
                ),
                evidence={
                    "fingerprint": finding["fingerprint"],
                    "call_sites": list(finding["call_sites"]),
                    "count": finding["count"],
                    "max_count_per_scope": repeats,
                    "scope_count": finding["scope_count"],
                    "scopes": list(finding["scopes"]),
                    "total_s": finding["total_s"],
                },
                suggestion=advice.duplicate_queries(
                    repeats, list(finding["call_sites"])
                ),
                impact_s=finding["total_s"],
            )
        )
    return found
