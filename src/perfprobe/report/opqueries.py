"""Find the slow queries that ran inside each timed operation's runs."""

from __future__ import annotations

from typing import Any

from ..aggregates import CollectorSnapshot
from ..events import OperationEvent, QueryEvent


def _inside(query: QueryEvent, run: OperationEvent) -> bool:
    """Return whether ``query`` started during ``run``, in its thread and scope.

    A thread's timer blocks and queries run one after another, so one that
    started in a block's window ran inside it; the scope keeps out another
    asyncio task of the same thread, which has a request scope of its own.
    """
    if query.thread_id != run.thread_id:
        return False
    if not run.started_at <= query.started_at <= run.started_at + run.duration_s:
        return False
    if run.scope is None:
        return True
    scope = query.scope or ""
    return scope == run.scope or scope.startswith(run.scope + "/")


def slow_queries_inside(
    snapshot: CollectorSnapshot, slow_query_s: float
) -> dict[str, list[dict[str, Any]]]:
    """Return, per operation name, the kept slow query runs inside its runs.

    A query run over ``slow_query_s`` (seconds) among the report's slowest
    is matched to the operation runs still among the recent events that it
    started inside. Each entry is one query shape and call site, with its
    runs (``count``) and their time (``total_s``), most time first; a run is
    counted once per operation name, however many of its runs hold it
    (recursive blocks). Both lists are bounded, so what is missed makes an
    operation's slow-query time smaller, never larger.
    """
    slow = [
        q
        for q in snapshot.slowest_queries
        if q.duration_s > slow_query_s and not q.error_type
    ]
    runs = [e for e in snapshot.recent_events if isinstance(e, OperationEvent)]
    if not slow or not runs:
        return {}

    found: dict[str, dict[tuple[str, str | None], list[Any]]] = {}
    for query in slow:
        names = {run.name for run in runs if _inside(query, run)}
        for name in names:
            key = (query.fingerprint, query.call_site)
            spent = found.setdefault(name, {}).setdefault(key, [0, 0.0])
            spent[0] += 1
            spent[1] += query.duration_s

    return {
        name: [
            {"fingerprint": fp, "call_site": site, "count": n, "total_s": total_s}
            for (fp, site), (n, total_s) in sorted(
                shapes.items(), key=lambda kv: (-kv[1][1], kv[0][0])
            )
        ]
        for name, shapes in found.items()
    }
