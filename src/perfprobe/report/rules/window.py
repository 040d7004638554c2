"""Tell whether queries ran inside a finding's scope and time window."""

from __future__ import annotations

from .registry import ReportData


def ran_queries(
    data: ReportData,
    scope: str | None,
    started_at: float | None = None,
    duration_s: float | None = None,
) -> bool | None:
    """Return whether queries ran in ``scope`` (within the window, if given).

    A scope's query count includes its nested scopes', so a scope that ran
    none rules every query out. Otherwise a kept query run inside the window
    (in the scope or one nested in it) says yes, and when the report kept
    every query run, finding none says no. Return None when the report
    cannot tell.
    """
    if scope:
        counts = [s["query_count"] for s in data["scopes"] if s["path"] == scope]
        if counts and not any(counts):
            return False
        if started_at is None or duration_s is None:
            return True if counts else None
    if started_at is None or duration_s is None:
        return None
    queries = data["queries"]
    kept = queries["slowest"]
    for event in kept:
        inside = (
            not scope
            or event["scope"] == scope
            or ((event["scope"] or "").startswith(scope + "/"))
        )
        if inside and started_at <= event["started_at"] <= started_at + duration_s:
            return True
    total = queries["total"]["count"] if queries["total"] else 0
    return False if len(kept) >= total else None
