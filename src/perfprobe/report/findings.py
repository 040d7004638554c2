"""Gather N+1 and duplicate-query findings for the report."""

from __future__ import annotations

from typing import Any

from ..aggregates import CollectorSnapshot
from .sitefunction import function_at


def findings_section(snapshot: CollectorSnapshot, kind: str) -> dict[str, Any]:
    """Return the ``n_plus_one`` or ``duplicates`` section of a snapshot.

    ``findings`` lists each finding of the scopes the collector still holds
    (the last ``MAX_SCOPE_HISTORY``), with its scope; ``aggregated`` merges
    the same finding over every scope closed since the last reset, however
    many that was (``scopes_analysed``); an aggregated N+1 finding also names
    the function its call site is in (``function``, see ``function_at``).
    Raise ``ValueError`` for another ``kind``.
    """
    scopes = snapshot.scopes
    if kind == "n_plus_one":
        every = [f.to_dict() for s in scopes for f in s.n_plus_one]
        aggregated = [
            {**finding, "function": function_at(finding["call_site"])}
            for finding in snapshot.n_plus_one_totals
        ]
    elif kind == "duplicates":
        every = [f.to_dict() for s in scopes for f in s.duplicates]
        aggregated = snapshot.duplicate_totals
    else:
        raise ValueError(f"unknown finding kind {kind!r}")
    return {
        "findings": every,
        "aggregated": aggregated,
        "scopes_analysed": snapshot.scopes_closed,
        "scopes_truncated": sum(1 for s in scopes if s.analysis_truncated),
    }
