"""Flag operations and endpoints slower than the slow-operation limit."""

from __future__ import annotations

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import format_against, format_duration, plural
from ..model import Recommendation
from .linking import (
    endpoint_key,
    explained_endpoints,
    slow_query_events,
    time_over,
)
from .registry import ReportData, register_rule


@register_rule("slow-operation")
def slow_operation(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag operations whose p95 (warning) or only max (info) is over the limit.

    A slow query run inside a slow operation is reported by both rules, and
    its time counted in both savings: operations are aggregated by name
    only, with no scope, call site or start time per run, so the report
    cannot tell which slow query ran inside which operation. When it flags
    slow queries, the suggestion says to read those first.
    """
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    # XXX: folding needs each run's scope and start (or the query time spent
    # inside it) kept with the operation aggregate, which the collector does
    # not record; until then the two findings overlap.
    slow_queries = bool(
        slow_query_events(data, settings.SLOW_QUERY_SECONDS * time_scale)
    )
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
                suggestion=advice.slow_operation(op["name"], typical, slow_queries),
                impact_s=stats["total"],
                saving_s=time_over(stats["total"], stats["count"], threshold_s),
            )
        )
    return found


@register_rule("slow-endpoint")
def slow_endpoint(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag routes whose p95 latency is over the slow-operation limit.

    A route whose requests spent at least half their time in slow queries,
    N+1 patterns or repeated queries is left to those findings, which name
    it (``linking.explained_endpoints``).
    """
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    explained = explained_endpoints(data, settings.SLOW_QUERY_SECONDS * time_scale)
    found = []
    for ep in data["endpoints"]:
        stats = ep["stats"]
        if stats is None or not stats["p95"] > threshold_s:
            continue
        per_request = ep["query_counts"]["mean"] if ep["query_counts"] else 0.0
        query_share = ep["query_time_s"] / stats["total"] if stats["total"] else 0.0
        route = endpoint_key(ep)
        if route in explained:
            continue
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
                saving_s=time_over(stats["total"], stats["count"], threshold_s),
            )
        )
    return found
