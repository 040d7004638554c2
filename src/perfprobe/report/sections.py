"""Turn a collector snapshot into the report's JSON-ready sections."""

from __future__ import annotations

from typing import Any

from ..aggregates import CollectorSnapshot, ScopeSummary
from ..stats import StatsSummary
from .opqueries import slow_queries_inside

MEMORY_NOTE = (
    "Heap figures come from tracemalloc (Python allocations only) and RSS from "
    "psutil (the whole process). Both are process-wide: a block marked "
    "process-wide had other threads doing monitored work, or other asyncio "
    "tasks of its thread with blocks open, while it was open, so its figures "
    "include their allocations."
)


def stats_dict(summary: StatsSummary | None) -> dict[str, Any] | None:
    """Return a summary's JSON form, or ``None`` when nothing was recorded."""
    return summary.to_dict() if summary is not None else None


def operations_section(
    snapshot: CollectorSnapshot, slow_query_s: float
) -> list[dict[str, Any]]:
    """Return one entry per operation (durations in seconds), most time first.

    ``slow_queries`` lists the slow queries (over ``slow_query_s``) that ran
    inside its runs (``opqueries.slow_queries_inside``).
    """
    inside = slow_queries_inside(snapshot, slow_query_s)
    entries = [
        {
            "name": name,
            "stats": summary.to_dict(),
            "errors": dict(errors),
            "tags": snapshot.operation_tags.get(name, {}),
            "endpoints": snapshot.operation_endpoints.get(name, []),
            "slow_queries": inside.get(name, []),
        }
        for name, (summary, errors) in snapshot.operations.items()
    ]
    return sorted(entries, key=lambda e: (-e["stats"]["total"], e["name"]))


def _call_sites(sites: dict[str, int]) -> list[dict[str, Any]]:
    ordered = sorted(sites.items(), key=lambda item: (-item[1], item[0]))
    return [{"call_site": site, "count": count} for site, count in ordered]


def queries_section(snapshot: CollectorSnapshot, slow_query_s: float) -> dict[str, Any]:
    """Return query totals, per-fingerprint aggregates and the slowest queries.

    ``outside_scopes_count`` counts the queries, included in the total, that
    ran while no open scope held them. ``slow_query_s`` is the effective
    (scaled) threshold the collector counted ``slow_query_count`` against, in
    seconds.
    """
    by_fingerprint = [
        {
            "fingerprint": fingerprint,
            "sample_sql": data["sample_sql"],
            "vendor": data["vendor"],
            "aliases": list(data["aliases"]),
            "count": data["stats"].count if data["stats"] else 0,
            "stats": stats_dict(data["stats"]),
            "call_sites": _call_sites(data["call_sites"]),
            "errors": dict(data["errors"]),
            "batches": data["batches"],
            "batch_rows": data["batch_rows"],
        }
        for fingerprint, data in snapshot.queries.items()
    ]
    by_fingerprint.sort(
        key=lambda e: (-(e["stats"]["total"] if e["stats"] else 0.0), e["fingerprint"])
    )
    return {
        "total": stats_dict(snapshot.query_total),
        "slow_query_count": snapshot.slow_query_count,
        "slow_query_threshold_s": slow_query_s,
        "outside_scopes_count": snapshot.queries_outside_scopes,
        "by_fingerprint": by_fingerprint,
        "slowest": [event.to_dict() for event in snapshot.slowest_queries],
    }


def endpoints_section(snapshot: CollectorSnapshot) -> list[dict[str, Any]]:
    """Return one entry per ``(method, route)``, most time first."""
    entries = [
        {
            "method": method,
            "route": route,
            "count": data["stats"].count if data["stats"] else 0,
            "stats": stats_dict(data["stats"]),
            "statuses": {
                str(status): n for status, n in sorted(data["statuses"].items())
            },
            "query_counts": stats_dict(data["query_counts"]),
            "query_time_s": data["query_time_s"],
            "errors": dict(data["errors"]),
        }
        for (method, route), data in snapshot.endpoints.items()
    ]
    return sorted(
        entries,
        key=lambda e: (-(e["stats"]["total"] if e["stats"] else 0.0), e["route"]),
    )


def memory_section(snapshot: CollectorSnapshot) -> dict[str, Any]:
    """Return the memory records (bytes), the largest block peak and the caveat."""
    records = [record.to_dict() for record in snapshot.memory]
    peaks = [
        r.peak_above_start_bytes
        for r in snapshot.memory
        if r.peak_above_start_bytes is not None
    ]
    return {
        "records": records,
        "max_peak_above_start_bytes": max(peaks) if peaks else None,
        "process_wide_blocks": sum(1 for r in snapshot.memory if r.process_wide),
        "note": MEMORY_NOTE,
    }


def errors_section(snapshot: CollectorSnapshot) -> dict[str, Any]:
    """Return the recent errors and the count of every error group, largest first."""
    groups = sorted(snapshot.error_counts.items(), key=lambda g: (-g[1], g[0]))
    counts = [
        {"source": source, "name": name, "error_type": error_type, "count": count}
        for (source, name, error_type), count in groups
    ]
    return {
        "total": sum(snapshot.error_counts.values()),
        "recent": [event.to_dict() for event in snapshot.errors],
        "counts": counts,
    }


def scope_dict(summary: ScopeSummary) -> dict[str, Any]:
    """Return one scope summary without its findings, which have own sections."""
    return {
        "id": summary.id,
        "name": summary.name,
        "kind": summary.kind,
        "path": summary.path,
        "started_at": summary.started_at,
        "duration_s": summary.duration_s,
        "query_count": summary.query_count,
        "query_time_s": summary.query_time_s,
        "operation_count": summary.operation_count,
        "request_count": summary.request_count,
        "errors": dict(summary.errors),
        "n_plus_one_count": len(summary.n_plus_one),
        "duplicate_count": len(summary.duplicates),
        "analysis_truncated": summary.analysis_truncated,
    }
