"""Link findings of different rules that share one cause.

A slow query that ran inside a request's scope is why that endpoint is
slow; the rules use these helpers so that one cause gives one
recommendation, naming every place it was seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    """Return where a finding was seen: ``"in view"``, ``"in 3 scopes (a, b, c)"``."""
    if scope_count <= 1 and scopes:
        return f"in {scopes[0]}"
    shown = ", ".join(scopes[:3])
    more = ", ..." if scope_count > 3 else ""
    return f"in {scope_count} scopes ({shown}{more})"
