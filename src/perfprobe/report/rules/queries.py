"""Flag slow queries, N+1 patterns and queries repeated within a scope."""

from __future__ import annotations

from typing import Any

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import format_against, format_duration, plural, shorten_sql
from ..indexes import check_indexes
from ..model import Recommendation
from ..nplusonewhere import NearbyQuery, place_n_plus_one, what_loads
from ..sqlshape import read_shape
from .linking import (
    endpoints_of,
    operations_explained_by_queries,
    saving_of_repeats,
    scopes_phrase,
    slow_queries_in_operations,
    slow_query_events,
)
from .registry import ReportData, register_rule


def _fp(fingerprint: str) -> str:
    return shorten_sql(fingerprint, 60)


@register_rule("slow-query")
def slow_query(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag each query shape whose slowest run was over the slow-query limit.

    The endpoints whose requests ran it are named, and their own slow-endpoint
    finding is left out. So are the operations whose time its slow runs
    mostly took (with other slow queries run inside them), which it names
    with that share. A shape whose kept slow runs all failed is left to the
    errors rule, which gives their duration.
    """
    threshold_s = settings.SLOW_QUERY_SECONDS * time_scale
    slow = slow_query_events(data, threshold_s)
    explains = _operations_by_query(data, threshold_s)
    shapes = {q["fingerprint"]: q for q in data["queries"]["by_fingerprint"]}
    failed = {
        e["fingerprint"]
        for e in data["queries"]["slowest"]
        if e["duration_s"] > threshold_s and e["fingerprint"] not in slow
    }
    found = []
    for fingerprint in dict.fromkeys([*slow, *shapes]):
        if fingerprint in failed:
            continue
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
        endpoints = endpoints_of((e["scope"] for e in events), data)
        over_s = sum(e["duration_s"] - threshold_s for e in events)
        where = f" at {call_site}" if call_site else ""
        operations = explains.get(fingerprint, [])
        seen_in = f" in {', '.join(endpoints)}" if endpoints else ""
        if operations:
            names = ", ".join(repr(name) for name, _share in operations)
            kind = "operation" if len(operations) == 1 else "operations"
            seen_in += f" in {kind} {names}"
        up_to = "up to " if len(events) > 1 else ""
        took = format_against(max_s, threshold_s)
        runs = f" over {len(events)} slow runs" if len(events) > 1 else ""
        found.append(
            Recommendation(
                rule_id="slow-query",
                severity="warning",
                title=(
                    f"Slow query{where} took {up_to}{took} (limit "
                    f"{format_duration(threshold_s)}){runs}{seen_in}: "
                    f"{_fp(fingerprint)}"
                ),
                evidence={
                    "fingerprint": fingerprint,
                    "call_site": call_site,
                    "scope": events[0]["scope"] if events else None,
                    "endpoints": endpoints or None,
                    "operations": [name for name, _share in operations] or None,
                    "max_s": max_s,
                    "count": shape["count"] if shape else len(events),
                    "slow_runs_kept": len(events),
                    "threshold_s": threshold_s,
                },
                suggestion=advice.slow_query(
                    sql,
                    vendor,
                    call_site,
                    check_indexes(sql),
                    read_shape(sql, call_site),
                )
                + (
                    f" {advice.slow_query_operations(operations)}" if operations else ""
                ),
                impact_s=sum(e["duration_s"] for e in events) or max_s,
                saving_s=over_s or max_s - threshold_s,
            )
        )
    return found


def _operations_by_query(
    data: ReportData, threshold_s: float
) -> dict[str, list[tuple[str, float]]]:
    """Return, per query shape, the operations it explains and its share of each.

    An operation is explained when the slow queries run inside it took at
    least half its time (``linking.operations_explained_by_queries``); the
    share is this shape's, over all its call sites.
    """
    found: dict[str, dict[str, float]] = {}
    explained = operations_explained_by_queries(
        slow_queries_in_operations(data, threshold_s)
    )
    for name, queries in explained.items():
        for _site, fingerprint, share in queries:
            shares = found.setdefault(fingerprint, {})
            shares[name] = min(shares.get(name, 0.0) + share, 1.0)
    return {
        fingerprint: sorted(shares.items(), key=lambda item: (-item[1], item[0]))
        for fingerprint, shares in found.items()
    }


def _nearby(data: ReportData, scopes: set[str]) -> list[NearbyQuery]:
    """Return the kept queries of ``scopes``, with when they ran if all kept.

    When the report kept only the slowest queries, the one that loaded an
    N+1's rows may be missing, so the order they ran in decides nothing:
    the finding's own ``rows_loaded_at``, named as its scopes closed, does.
    """
    kept = data["queries"]["slowest"]
    total = data["queries"]["total"]
    every = bool(total) and len(kept) >= total["count"]
    nearby: list[NearbyQuery] = []
    for e in kept:
        if e["scope"] not in scopes:
            continue
        query = (e["call_site"], e["fingerprint"], e.get("lazy_load"))
        if every:
            order = (e["scope"], e["thread_id"], e["started_at"])
            nearby.append((*query, order))
        else:
            nearby.append(query)
    return nearby


@register_rule("n-plus-one")
def n_plus_one(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag each N+1 pattern once, however many scopes it was seen in."""
    found = []
    for finding in data["n_plus_one"]["aggregated"]:
        lazy = finding["lazy_load"]
        count, scope_count = finding["count"], finding["scope_count"]
        saving_s = saving_of_repeats(finding["total_s"], count, scope_count)
        loads = what_loads(finding["fingerprint"], lazy) + ", "
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
        scopes = set(finding["scopes"])
        nearby = _nearby(data, scopes)
        endpoints = endpoints_of(scopes, data)
        place = place_n_plus_one(
            finding["fingerprint"],
            finding["call_site"],
            lazy,
            nearby,
            endpoints,
            finding.get("rows_loaded_at"),
        )
        evidence.update(place.evidence)
        found.append(
            Recommendation(
                rule_id="n-plus-one",
                severity="warning",
                title=(
                    f"N+1 queries {place.where}: {loads}"
                    f"{plural(count, 'query')} "
                    f"{scopes_phrase(finding['scopes'], scope_count)} (up to "
                    f"{finding['max_count_per_scope']} per scope); a fix saves "
                    f"about {format_duration(saving_s)}"
                ),
                evidence=evidence,
                suggestion=place.suggestion,
                impact_s=finding["total_s"],
                saving_s=saving_s,
            )
        )
    return found


@register_rule("duplicate-queries")
def duplicate_queries(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag identical queries repeated in a scope; warning at N+1 volumes."""
    found = []
    # An N+1's own repeats (the loop revisiting a row) are that N+1, whose
    # fix removes them; the scopes leave them out by call site, which only
    # works where there is one. An N+1 without one (a TemplateResponse's
    # template) covers the repeats of its shape, without one, in its scopes.
    unplaced = {
        f["fingerprint"]: set(f["scopes"])
        for f in data["n_plus_one"]["aggregated"]
        if f["call_site"] is None
    }
    for finding in data["duplicates"]["aggregated"]:
        repeats = finding["max_count_per_scope"]
        sites = list(finding["call_sites"])
        covering = unplaced.get(finding["fingerprint"])
        if not sites and covering is not None and covering >= set(finding["scopes"]):
            continue
        # One run is left per repeated parameter set of a scope.
        saving_s = saving_of_repeats(
            finding["total_s"],
            finding["count"],
            finding.get("repeated_sets", finding["scope_count"]),
        )
        where = f" at {', '.join(sites)}" if sites else ""
        found.append(
            Recommendation(
                rule_id="duplicate-queries",
                severity=(
                    "warning" if repeats >= settings.N_PLUS_ONE_MIN_QUERIES else "info"
                ),
                title=(
                    f"Identical query run {finding['count']} times{where} "
                    f"{scopes_phrase(finding['scopes'], finding['scope_count'])}"
                    f"{_most_in_one(finding)}; "
                    f"reusing the result saves about {format_duration(saving_s)}: "
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
                suggestion=advice.duplicate_queries(repeats, sites),
                impact_s=finding["total_s"],
                saving_s=saving_s,
            )
        )
    return found


def _most_in_one(finding: dict[str, Any]) -> str:
    """Return ``" (up to 16 in one run)"`` when the runs were split up, or ``""``.

    ``max_count_per_scope`` is the most runs of one parameter set in one
    scope; when it is the whole count nothing was split.
    """
    repeats, count = finding["max_count_per_scope"], finding["count"]
    if repeats >= count:
        return ""
    one = "run" if len(finding["scopes"]) == 1 else "scope"
    sets = finding.get("repeated_sets", finding["scope_count"])
    same = " with the same parameters" if sets > finding["scope_count"] else ""
    return f" (up to {repeats}{same} in one {one})"
