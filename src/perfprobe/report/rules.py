"""Turn report data into recommendations: one small function per rule id.

A rule is ``rule(report_data, settings, time_scale) -> list[Recommendation]``
over the JSON-ready report dict, registered with ``@register_rule(rule_id)``.
Time thresholds are the configured seconds multiplied by ``time_scale``; a
value must be strictly over its threshold to fire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..conf import PerfprobeSettings
from ..failures import log_failure
from . import advice, hotspots
from .fmt import (
    BYTES_PER_MB,
    format_against,
    format_bytes,
    format_duration,
    plural,
    shorten,
)
from .model import SEVERITIES, Recommendation

logger = logging.getLogger("perfprobe.report")

ReportData = Mapping[str, Any]
Rule = Callable[[ReportData, PerfprobeSettings, float], list[Recommendation]]

#: Every registered rule by its stable id, run in registration order.
RULES: dict[str, Rule] = {}


def register_rule(rule_id: str) -> Callable[[Rule], Rule]:
    """Register the decorated function as the rule ``rule_id``.

    Raise ``ValueError`` if another function already holds the id.
    """

    def decorator(func: Rule) -> Rule:
        existing = RULES.get(rule_id)
        if existing is not None and existing is not func:
            raise ValueError(f"a rule with id {rule_id!r} is already registered")
        RULES[rule_id] = func
        return func

    return decorator


def sort_recommendations(found: list[Recommendation]) -> list[Recommendation]:
    """Return ``found`` ordered by severity, then by time impact, largest first."""
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    return sorted(found, key=lambda r: (rank[r.severity], -r.impact_s, r.rule_id))


def run_rules(
    report_data: ReportData,
    settings: PerfprobeSettings,
    time_scale: float,
    rules: Mapping[str, Rule] | None = None,
) -> list[Recommendation]:
    """Run every rule (``RULES`` by default) and return their sorted findings.

    A rule that raises is logged and skipped, so one faulty rule cannot cost
    the whole report.
    """
    found: list[Recommendation] = []
    for rule_id, rule in (RULES if rules is None else rules).items():
        try:
            found.extend(rule(report_data, settings, time_scale))
        except Exception:
            log_failure(logger, f"rule {rule_id}", "perfprobe rule %s failed", rule_id)
    return sort_recommendations(found)


def _fp(fingerprint: str) -> str:
    return shorten(fingerprint, 60)


@register_rule("slow-operation")
def slow_operation(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag operations whose p95 (warning) or only max (info) is over the limit."""
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    found = []
    for op in data["operations"]:
        stats = op["stats"]
        if not (stats["p95"] > threshold_s or stats["max"] > threshold_s):
            continue
        typical = stats["p95"] > threshold_s
        found.append(
            Recommendation(
                rule_id="slow-operation",
                severity="warning" if typical else "info",
                title=(
                    f"Operation {op['name']!r} is slow: p95 "
                    f"{format_against(stats['p95'], threshold_s)}, max "
                    f"{format_against(stats['max'], threshold_s)} (limit "
                    f"{format_duration(threshold_s)})"
                ),
                evidence={
                    "operation": op["name"],
                    "count": stats["count"],
                    "mean_s": stats["mean"],
                    "p95_s": stats["p95"],
                    "max_s": stats["max"],
                    "threshold_s": threshold_s,
                },
                suggestion=advice.slow_operation(op["name"], typical),
                impact_s=stats["total"],
            )
        )
    return found


@register_rule("slow-endpoint")
def slow_endpoint(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag routes whose p95 latency is over the slow-operation limit."""
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    found = []
    for ep in data["endpoints"]:
        stats = ep["stats"]
        if stats is None or not stats["p95"] > threshold_s:
            continue
        per_request = ep["query_counts"]["mean"] if ep["query_counts"] else 0.0
        query_share = ep["query_time_s"] / stats["total"] if stats["total"] else 0.0
        route = f"{ep['method']} {ep['route']}"
        found.append(
            Recommendation(
                rule_id="slow-endpoint",
                severity="warning",
                title=(
                    f"Endpoint {route} is slow: p95 "
                    f"{format_against(stats['p95'], threshold_s)} "
                    f"over {plural(stats['count'], 'request')} (limit "
                    f"{format_duration(threshold_s)})"
                ),
                evidence={
                    "method": ep["method"],
                    "route": ep["route"],
                    "count": stats["count"],
                    "p50_s": stats["p50"],
                    "p95_s": stats["p95"],
                    "max_s": stats["max"],
                    "threshold_s": threshold_s,
                    "queries_per_request": per_request,
                    "query_time_share": query_share,
                    "statuses": dict(ep["statuses"]),
                },
                suggestion=advice.slow_endpoint(
                    route, per_request, settings.N_PLUS_ONE_MIN_QUERIES, query_share
                ),
                impact_s=stats["total"],
            )
        )
    return found


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


def _block_recommendation(
    block: dict[str, Any], threshold_bytes: float
) -> Recommendation:
    record, peak = block["record"], block["record"]["peak_above_start_bytes"]
    return Recommendation(
        rule_id="high-memory",
        severity="warning",
        title=(
            f"Memory block {record['label']!r} peaked {format_bytes(peak)} above "
            f"its start (limit {format_bytes(threshold_bytes)})"
        ),
        evidence={
            "label": record["label"],
            "scope": record["scope"],
            "peak_above_start_bytes": peak,
            "heap_delta_bytes": record["heap_delta_bytes"],
            "given_back_bytes": block["given_back_bytes"],
            "rss_delta_bytes": record["rss_delta_bytes"],
            "threshold_bytes": threshold_bytes,
            "blocks_over_threshold": block["blocks_over_threshold"],
            "attribution": record["attribution"],
        },
        suggestion=advice.high_memory(record["label"], peak, block["given_back_bytes"]),
    )


def _rise_recommendation(
    rise: dict[str, Any], threshold_bytes: float
) -> Recommendation:
    return Recommendation(
        rule_id="high-memory",
        severity="warning",
        title=(
            f"Memory rose {format_bytes(rise['rise_bytes'])} between checkpoints "
            f"{rise['from_label']!r} and {rise['label']!r}"
        ),
        evidence={**rise, "threshold_bytes": threshold_bytes},
        suggestion=advice.high_memory(rise["label"], rise["rise_bytes"], None),
    )


@register_rule("high-memory")
def high_memory(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag blocks peaking, or checkpoint series rising, over the memory limit."""
    threshold_bytes = settings.HIGH_MEMORY_MB * BYTES_PER_MB
    records = data["memory"]["records"]
    blocks = [
        _block_recommendation(block, threshold_bytes)
        for block in hotspots.blocks_over(records, threshold_bytes)
    ]
    rises = [
        _rise_recommendation(rise, threshold_bytes)
        for rise in hotspots.checkpoint_rises(records)
        if rise["rise_bytes"] > threshold_bytes
    ]
    return blocks + rises


@register_rule("errors")
def errors(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag every error group; request and query errors are critical."""
    sites = {
        q["fingerprint"]: q["call_sites"][0]["call_site"]
        for q in data["queries"]["by_fingerprint"]
        if q["call_sites"]
    }
    # The latest error of each group says where user code raised it.
    raised_at = {
        (e["source"], e["name"], e["error_type"]): e.get("raised_at")
        for e in data["errors"]["recent"]
    }
    found = []
    for group in data["errors"]["counts"]:
        source, name, error_type = group["source"], group["name"], group["error_type"]
        call_site = (
            sites.get(name)
            if source == "query"
            else raised_at.get((source, name, error_type))
        )
        evidence = {
            "source": source,
            "name": name,
            "error_type": error_type,
            "count": group["count"],
        }
        if call_site:
            evidence["call_site" if source == "query" else "raised_at"] = call_site
        if source == "query":
            evidence["fingerprint"] = name
        found.append(
            Recommendation(
                rule_id="errors",
                severity="critical" if source in ("request", "query") else "warning",
                title=(
                    f"{source.capitalize()} {shorten(name, 60)} failed "
                    f"{plural(group['count'], 'time')} with {error_type}"
                ),
                evidence=evidence,
                suggestion=advice.error(source, name, error_type, call_site),
            )
        )
    return found
