"""Link findings of different rules that share one cause.

A slow query that ran inside a request's scope is why that endpoint is
slow; the rules use these helpers so that one cause gives one
recommendation, naming every place it was seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...findings import MAX_SCOPES_LISTED
from .registry import ReportData


def slow_query_events(data: ReportData, threshold_s: float) -> dict[str, list[Any]]:
    """Return the kept query runs over ``threshold_s``, by fingerprint.

    A shape whose slow runs all failed is left out: the errors rule reports
    those runs, with their duration.
    """
    events: dict[str, list[Any]] = {}
    for event in data["queries"]["slowest"]:
        if event["duration_s"] > threshold_s:
            events.setdefault(event["fingerprint"], []).append(event)
    return {
        fingerprint: runs
        for fingerprint, runs in events.items()
        if not all(run["error_type"] for run in runs)
    }


def endpoint_key(endpoint: dict[str, Any]) -> str:
    """Return an endpoint's ``"METHOD /route/"``, its request scopes' name."""
    return f"{endpoint['method']} {endpoint['route']}"


def endpoints_of(scopes: Iterable[str | None], data: ReportData) -> list[str]:
    """Return the endpoints (``"GET /route/"``) whose requests ran in ``scopes``.

    A request scope is named after its endpoint and may sit inside another
    scope (``"api_requests/GET /api/orders/"``), so a scope path belongs to
    an endpoint when it is its key or ends with ``/`` and its key. The list
    is sorted.
    """
    keys = [endpoint_key(ep) for ep in data["endpoints"]]
    found: dict[str, None] = {}
    for scope in scopes:
        if not scope:
            continue
        for key in keys:
            if scope == key or scope.endswith("/" + key):
                found[key] = None
    return sorted(found)


def explained_endpoints(data: ReportData, slow_query_s: float) -> set[str]:
    """Return the endpoints whose requests' time other findings account for.

    Over the request scopes the report still holds, an endpoint is explained
    when its slow queries (over ``slow_query_s``), N+1 patterns and repeated
    queries took at least half its requests' time (a query's time counted
    once, however many of them hold it): those findings name it, and a
    slow-endpoint finding would only repeat them. Kept query runs and
    findings are bounded, so what is missed errs toward reporting the
    endpoint too.
    """
    keys = [endpoint_key(ep) for ep in data["endpoints"]]

    def key_of(scope: str | None) -> str | None:
        for key in keys:
            if scope and (scope == key or scope.endswith("/" + key)):
                return key
        return None

    requests_s: dict[str, float] = {}
    for scope in data["scopes"]:
        key = key_of(scope["path"]) if scope["kind"] == "request" else None
        if key is not None:
            requests_s[key] = requests_s.get(key, 0.0) + scope["duration_s"]
    # One query's time may be in a slow run, an N+1 finding and a repeated
    # query finding at once: within a scope and a query shape, each source's
    # time is summed and the largest taken, so no time counts twice.
    runs = [
        run for runs in slow_query_events(data, slow_query_s).values() for run in runs
    ]
    sources = [
        [(run["scope"], run["fingerprint"], run["duration_s"]) for run in runs],
        *(
            [
                (f["scope"], f["fingerprint"], f["total_s"])
                for f in data[kind]["findings"]
            ]
            for kind in ("n_plus_one", "duplicates")
        ),
    ]
    per_shape: dict[tuple[str, str, str], float] = {}
    for source in sources:
        summed: dict[tuple[str, str, str], float] = {}
        for scope, fingerprint, spent_s in source:
            key = key_of(scope)
            if key is not None:
                shape = (key, scope, fingerprint)
                summed[shape] = summed.get(shape, 0.0) + spent_s
        for shape, spent_s in summed.items():
            per_shape[shape] = max(per_shape.get(shape, 0.0), spent_s)
    found_s: dict[str, float] = {}
    for (key, _scope, _fingerprint), spent_s in per_shape.items():
        found_s[key] = found_s.get(key, 0.0) + spent_s
    return {
        key
        for key, spent_s in found_s.items()
        if requests_s.get(key) and spent_s >= requests_s[key] / 2
    }


def is_slow_operation(operation: dict[str, Any], threshold_s: float) -> bool:
    """Return whether the slow-operation rule flags ``operation``."""
    stats = operation["stats"]
    return bool(stats["p95"] > threshold_s or stats["max"] > threshold_s)


def operations_in_endpoints(data: ReportData) -> dict[str, list[tuple[str, float]]]:
    """Return, per endpoint, the operations that ran in its requests and their time.

    From each operation's ``endpoints`` (kept when its records were folded;
    absent in reports written before it existed), most time first.
    """
    found: dict[str, list[tuple[str, float]]] = {}
    for op in data["operations"]:
        for spent in op.get("endpoints") or ():
            found.setdefault(spent["endpoint"], []).append(
                (op["name"], spent["total_s"])
            )
    for timed in found.values():
        timed.sort(key=lambda item: (-item[1], item[0]))
    return found


def endpoints_explained_by_operations(
    data: ReportData, slow_operation_s: float
) -> dict[str, list[tuple[str, float]]]:
    """Return the endpoints a slow operation explains, with each one's share.

    An endpoint is explained when one operation the slow-operation rule
    flags as a warning (its p95 over the limit) took at least half the time
    of all its requests: that finding names it. One flagged only for its
    slowest run is an info finding, which would hide a slow endpoint's
    warning. Operations nested in one another may hold the same seconds,
    so they are not added up: one alone must reach half. The result maps
    each operation's name to ``(endpoint, share)`` pairs.
    """
    totals = {
        endpoint_key(ep): ep["stats"]["total"]
        for ep in data["endpoints"]
        if ep["stats"] and ep["stats"]["total"] > 0
    }
    found: dict[str, list[tuple[str, float]]] = {}
    for op in data["operations"]:
        if not op["stats"]["p95"] > slow_operation_s:
            continue
        for spent in op.get("endpoints") or ():
            total = totals.get(spent["endpoint"])
            if total and spent["total_s"] >= total / 2:
                share = min(spent["total_s"] / total, 1.0)
                found.setdefault(op["name"], []).append((spent["endpoint"], share))
    return found


def time_over(total_s: float, count: int, threshold_s: float) -> float:
    """Return the least time ``count`` runs of ``total_s`` spent over a limit.

    Each run's excess is at least its duration minus the limit, so the sum of
    excesses is at least ``total_s - count * threshold_s``; never negative.
    """
    return max(0.0, total_s - count * threshold_s)


def saving_of_repeats(total_s: float, count: int, scope_count: int) -> float:
    """Return the time saved by running a repeated query once per scope.

    ``count`` runs over ``scope_count`` scopes took ``total_s``; the cure
    leaves (about) one run per scope, at the mean duration.
    """
    if count <= 0:
        return 0.0
    return total_s * max(count - scope_count, 0) / count


def scopes_phrase(scopes: list[str], scope_count: int) -> str:
    """Return where a finding was seen: ``"in view"``, ``"in 3 scopes (a, b, c)"``.

    Names closed several times (a job run twice, a route's requests) are
    counted as runs, ``"in 2 runs of nightly-import"``: "2 scopes" beside
    one name reads as a name left out.
    """
    if scope_count <= 1 and scopes:
        return f"in {scopes[0]}"
    if len(scopes) == 1:
        return f"in {scope_count} runs of {scopes[0]}"
    shown = ", ".join(scopes[:3])
    # ``scope_count`` counts every scope closed (a route's each request);
    # ``scopes`` their distinct names: only more names make "...".
    more = ", ..." if len(scopes) > 3 else ""
    if len(scopes) < min(scope_count, MAX_SCOPES_LISTED):
        # Every name is listed, and some were closed more than once.
        return f"in {scope_count} runs of {len(scopes)} scopes ({shown}{more})"
    return f"in {scope_count} scopes ({shown}{more})"


def slow_queries_in_operations(
    data: ReportData, slow_query_s: float
) -> dict[str, list[tuple[str | None, str, float]]]:
    """Return, per operation, the slow queries run inside it and their share.

    From each operation's ``slow_queries`` (absent in reports written before
    it existed): ``(call site, fingerprint, share)``, the share (0..1) of
    all the operation's time that the query's kept slow runs inside it
    took, most first. Only shapes the slow-query rule flags are named.
    """
    flagged = slow_query_events(data, slow_query_s)
    found: dict[str, list[tuple[str | None, str, float]]] = {}
    for op in data["operations"]:
        total_s = op["stats"]["total"]
        for spent in op.get("slow_queries") or ():
            if total_s > 0 and spent["fingerprint"] in flagged:
                share = min(spent["total_s"] / total_s, 1.0)
                found.setdefault(op["name"], []).append(
                    (spent["call_site"], spent["fingerprint"], share)
                )
    for linked in found.values():
        linked.sort(key=lambda item: -item[2])
    return found


def operations_explained_by_queries(
    linked: dict[str, list[tuple[str | None, str, float]]],
) -> dict[str, list[tuple[str | None, str, float]]]:
    """Return the operations whose slow queries took at least half their time.

    ``linked`` is ``slow_queries_in_operations``' result. The queries run one
    after another in the operation's thread, so their shares add up: such
    an operation is left to the slow-query findings, which name it, as an
    endpoint mostly spent in one operation is left to that one's.
    """
    return {
        name: queries
        for name, queries in linked.items()
        if sum(share for _site, _fp, share in queries) >= 0.5
    }
