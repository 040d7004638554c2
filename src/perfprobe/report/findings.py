"""Gather N+1 and duplicate-query findings from scopes and merge repeats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..aggregates import ScopeSummary
from ..nplusone import DuplicateFinding, NPlusOneFinding

# A view hit a thousand times names one finding; the scope list only needs
# enough paths to show where it happens.
MAX_SCOPES_LISTED = 10


@dataclass
class _Merged:
    """Running totals of one finding seen in several scopes."""

    first: dict[str, Any]
    count: int = 0
    total_s: float = 0.0
    max_count_per_scope: int = 0
    scope_count: int = 0
    scopes: list[str] = field(default_factory=list)

    def add(self, scope: str, count: int, total_s: float) -> None:
        self.count += count
        self.total_s += total_s
        self.max_count_per_scope = max(self.max_count_per_scope, count)
        self.scope_count += 1
        if scope not in self.scopes and len(self.scopes) < MAX_SCOPES_LISTED:
            self.scopes.append(scope)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.first)
        data.pop("scope", None)
        data.update(
            count=self.count,
            total_s=self.total_s,
            max_count_per_scope=self.max_count_per_scope,
            scope_count=self.scope_count,
            scopes=list(self.scopes),
        )
        return data


def _ordered(merged: Iterable[_Merged]) -> list[dict[str, Any]]:
    return sorted(
        (m.to_dict() for m in merged),
        key=lambda d: (-d["total_s"], -d["count"], d["fingerprint"]),
    )


def aggregate_n_plus_one(findings: Iterable[NPlusOneFinding]) -> list[dict[str, Any]]:
    """Merge findings by ``(fingerprint, call_site)``, most time first.

    Each merged finding has the summed ``count`` and ``total_s`` (seconds),
    ``scope_count`` (scopes it was seen in), up to ``MAX_SCOPES_LISTED``
    distinct scope paths, and the first lazy-load explanation found.
    """
    merged: dict[tuple[str, str | None], _Merged] = {}
    for finding in findings:
        key = (finding.fingerprint, finding.call_site)
        entry = merged.get(key)
        if entry is None:
            entry = merged[key] = _Merged(finding.to_dict())
        elif entry.first["lazy_load"] is None and finding.lazy_load is not None:
            entry.first["lazy_load"] = finding.lazy_load.to_dict()
        entry.first["distinct_params"] = max(
            entry.first["distinct_params"], finding.distinct_params
        )
        entry.add(finding.scope, finding.count, finding.total_s)
    return _ordered(merged.values())


def aggregate_duplicates(
    findings: Iterable[DuplicateFinding],
) -> list[dict[str, Any]]:
    """Merge duplicate findings by ``(fingerprint, call_sites)``, most time first."""
    merged: dict[tuple[str, tuple[str, ...]], _Merged] = {}
    for finding in findings:
        key = (finding.fingerprint, finding.call_sites)
        entry = merged.get(key)
        if entry is None:
            entry = merged[key] = _Merged(finding.to_dict())
        entry.add(finding.scope, finding.count, finding.total_s)
    return _ordered(merged.values())


def findings_section(scopes: list[ScopeSummary], kind: str) -> dict[str, Any]:
    """Return the ``n_plus_one`` or ``duplicates`` section from scope summaries.

    ``findings`` lists every finding with its scope; ``aggregated`` merges
    the same finding across scopes. Only the scopes the collector still
    holds (``MAX_SCOPE_HISTORY``) are covered, and ``scopes_analysed`` says
    how many that was.
    """
    if kind == "n_plus_one":
        n_plus_one = [f for s in scopes for f in s.n_plus_one]
        every = [f.to_dict() for f in n_plus_one]
        aggregated = aggregate_n_plus_one(n_plus_one)
    elif kind == "duplicates":
        duplicates = [f for s in scopes for f in s.duplicates]
        every = [f.to_dict() for f in duplicates]
        aggregated = aggregate_duplicates(duplicates)
    else:
        raise ValueError(f"unknown finding kind {kind!r}")
    return {
        "findings": every,
        "aggregated": aggregated,
        "scopes_analysed": len(scopes),
        "scopes_truncated": sum(1 for s in scopes if s.analysis_truncated),
    }
