"""Flag operations and endpoints slower than the slow-operation limit."""

from __future__ import annotations

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import format_against, format_duration, plural
from ..model import Recommendation
from .linking import (
    endpoint_key,
    endpoints_explained_by_operations,
    endpoints_of,
    explained_endpoints,
    is_slow_operation,
    operations_explained_by_queries,
    operations_in_endpoints,
    slow_queries_in_operations,
    slow_query_events,
    time_over,
)
from .registry import ReportData, register_rule


@register_rule("slow-operation")
def slow_operation(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag operations whose p95 (warning) or only max (info) is over the limit.

    The endpoints whose requests the operation ran in are named, most time
    first; one whose requests spent at least half their time in it gets no
    slow-endpoint finding of its own (``linking``), and this suggestion
    says so. An operation whose kept slow queries took at least half its
    time is left to the slow-query findings, which name it; one with less
    names them here, with their share of its time.
    """
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    slow_query_s = settings.SLOW_QUERY_SECONDS * time_scale
    inside = slow_queries_in_operations(data, slow_query_s)
    by_queries = operations_explained_by_queries(inside)
    # Where the report could not link queries to an operation's runs (an
    # older report, or runs and queries no longer kept), the suggestion says
    # to read the slow-query findings first, unless every run of the
    # operation was in requests of endpoints that ran none of them.
    slow_runs = slow_query_events(data, slow_query_s)
    # The endpoints whose requests ran a slow query: an operation whose runs
    # all fell in requests of other endpoints ran none of them.
    slow_in = set(
        endpoints_of(
            (run["scope"] for runs in slow_runs.values() for run in runs), data
        )
    )
    explains = endpoints_explained_by_operations(data, threshold_s)
    found = []
    for op in data["operations"]:
        stats = op["stats"]
        if not is_slow_operation(op, threshold_s) or op["name"] in by_queries:
            continue
        typical = stats["p95"] > threshold_s
        spent_in = op.get("endpoints") or []
        endpoints = [spent["endpoint"] for spent in spent_in]
        all_in_requests = sum(spent["count"] for spent in spent_in) == stats["count"]
        slow_queries = bool(slow_runs) and not (
            all_in_requests and slow_in.isdisjoint(endpoints)
        )
        seen_in = ""
        if endpoints:
            more = f" and {len(endpoints) - 3} more" if len(endpoints) > 3 else ""
            seen_in = f" in {', '.join(endpoints[:3])}{more}"
        found.append(
            Recommendation(
                rule_id="slow-operation",
                severity="warning" if typical else "info",
                title=(
                    f"Operation {op['name']!r} is slow: p95 "
                    f"{format_against(stats['p95'], threshold_s)}, max "
                    f"{format_against(stats['max'], threshold_s)} (limit "
                    f"{format_duration(threshold_s)}){seen_in}"
                ),
                evidence={
                    "operation": op["name"],
                    "count": stats["count"],
                    "mean_s": stats["mean"],
                    "p95_s": stats["p95"],
                    "max_s": stats["max"],
                    "threshold_s": threshold_s,
                    "endpoints": endpoints or None,
                },
                suggestion=advice.slow_operation(
                    op["name"],
                    typical,
                    slow_queries,
                    explains.get(op["name"]),
                    inside.get(op["name"]),
                ),
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
    it (``linking.explained_endpoints``), and so is one whose requests spent
    at least half their time in one slow operation. The suggestion names
    the measured operations that took a tenth of the route's time or more.
    """
    threshold_s = settings.SLOW_OPERATION_SECONDS * time_scale
    slow_query_s = settings.SLOW_QUERY_SECONDS * time_scale
    explained = explained_endpoints(data, slow_query_s)
    # An operation left to its slow queries has no finding to leave a
    # route to, nor one to point at.
    by_queries = operations_explained_by_queries(
        slow_queries_in_operations(data, slow_query_s)
    )
    for name, pairs in endpoints_explained_by_operations(data, threshold_s).items():
        if name not in by_queries:
            explained.update(route for route, _share in pairs)
    slow_ops = {
        op["name"]
        for op in data["operations"]
        if is_slow_operation(op, threshold_s) and op["name"] not in by_queries
    }
    timed = operations_in_endpoints(data)
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
        operations = [
            (name, min(spent_s / stats["total"], 1.0), name in slow_ops)
            for name, spent_s in timed.get(route, [])
            if stats["total"] and spent_s >= stats["total"] / 10
        ][:3]
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
                    route,
                    per_request,
                    settings.N_PLUS_ONE_MIN_QUERIES,
                    query_share,
                    operations,
                ),
                impact_s=stats["total"],
                saving_s=time_over(stats["total"], stats["count"], threshold_s),
            )
        )
    return found
