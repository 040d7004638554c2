"""Define N+1 and duplicate findings, and merge those of every closed scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .events import LazyLoad

_Frozen = TypeVar("_Frozen")


def made(cls: type[_Frozen], **fields: Any) -> _Frozen:
    """Return the frozen dataclass ``cls`` holding ``fields``, all of them given.

    Its ``__init__`` sets each field through ``object.__setattr__``; once per
    scope's close, handing the object the keyword dict (new to this call)
    as its ``__dict__`` costs a fraction of that, and half of copying it in.
    For classes without ``__post_init__``, slots or defaults left out; the
    tests compare objects made both ways.
    """
    obj: _Frozen = object.__new__(cls)
    # A frozen dataclass refuses its own __setattr__, not object's.
    object.__setattr__(obj, "__dict__", fields)
    return obj


@dataclass(frozen=True)
class NPlusOneFinding:
    """Many queries of one shape from one call site, differing in parameters."""

    scope: str
    fingerprint: str
    call_site: str | None
    count: int
    distinct_params: int
    total_s: float
    sample_sql: str
    lazy_load: LazyLoad | None
    #: The lines whose query may have loaded the rows, named as the scope
    #: closed (``nplusoneloader.rows_loaded_at``): one names the queryset,
    #: several could not be told apart, none ran before the loop; ``None``
    #: when not known.
    rows_loaded_at: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data; ``rows_loaded_at`` when known."""
        data: dict[str, Any] = {
            "scope": self.scope,
            "fingerprint": self.fingerprint,
            "call_site": self.call_site,
            "count": self.count,
            "distinct_params": self.distinct_params,
            "total_s": self.total_s,
            "sample_sql": self.sample_sql,
            "lazy_load": self.lazy_load.to_dict() if self.lazy_load else None,
        }
        if self.rows_loaded_at is not None:
            data["rows_loaded_at"] = list(self.rows_loaded_at)
        return data


@dataclass(frozen=True)
class DuplicateFinding:
    """The same SQL with the same parameters run more than once in a scope."""

    scope: str
    fingerprint: str
    count: int
    total_s: float
    sample_sql: str
    call_sites: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return {
            "scope": self.scope,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "total_s": self.total_s,
            "sample_sql": self.sample_sql,
            "call_sites": list(self.call_sites),
        }


# A view hit a thousand times is one merged finding; its scope list needs only
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
    #: The findings merged in: a scope's duplicates of one shape are one
    #: finding per repeated parameter set, all of them in one scope.
    found_count: int = 0

    def add(
        self, scope: str, count: int, total_s: float, new_scope: bool = True
    ) -> None:
        self.count += count
        self.total_s += total_s
        self.max_count_per_scope = max(self.max_count_per_scope, count)
        self.scope_count += new_scope
        self.found_count += 1
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
        if "call_sites" in data:
            data["repeated_sets"] = self.found_count
        return data


def _merge_loaded_at(first: dict[str, Any], loaded_at: tuple[str, ...]) -> None:
    """Add one scope's ``rows_loaded_at`` lines to a merged finding's.

    Scopes that name different lines leave the queryset unknown, as several
    lines in one scope do: the lines are joined, at most three, and once
    there are two nothing more is needed. A scope that ran no candidate
    before its loop adds none.
    """
    known = first.get("rows_loaded_at")
    if known is None:
        first["rows_loaded_at"] = list(loaded_at)
    elif len(known) < 2 and any(line not in known for line in loaded_at):
        first["rows_loaded_at"] = sorted({*known, *loaded_at})[:3]


class FindingTotals:
    """Merge N+1 or duplicate findings from every closed scope, in bounded memory.

    N+1 findings merge by ``(fingerprint, call_site)``, duplicates by
    ``(fingerprint, call_sites)``; each merged finding sums ``count`` and
    ``total_s`` (seconds) and counts the scopes it was seen in, however many
    scopes have come and gone. At most ``max_keys`` findings are kept; later
    new ones are counted in ``dropped``. Not thread-safe: the collector calls
    it under its lock.
    """

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.dropped = 0
        self._merged: dict[tuple[Any, ...], _Merged] = {}

    def _entry(
        self, key: tuple[Any, ...], finding: NPlusOneFinding | DuplicateFinding
    ) -> _Merged | None:
        entry = self._merged.get(key)
        if entry is None:
            if len(self._merged) >= self.max_keys:
                self.dropped += 1
                return None
            # Made for a new key only: a view's N+1 seen in every request
            # merges into its entry, and the lazy load's dict (dataclasses'
            # asdict, which deep-copies each field) costs more than the rest.
            entry = self._merged[key] = _Merged(finding.to_dict())
        return entry

    def add_n_plus_one(self, finding: NPlusOneFinding) -> None:
        """Fold one scope's N+1 finding in."""
        # Once per finding of every scope's close (a request of an N+1
        # view): a known key's entry is found and added to here, without
        # the calls of _entry and _Merged.add.
        entry = self._merged.get((finding.fingerprint, finding.call_site))
        if entry is None:
            entry = self._entry((finding.fingerprint, finding.call_site), finding)
            if entry is None:
                return
        first = entry.first
        if first["lazy_load"] is None and finding.lazy_load is not None:
            first["lazy_load"] = finding.lazy_load.to_dict()
        if finding.distinct_params > first["distinct_params"]:
            first["distinct_params"] = finding.distinct_params
        loaded_at = finding.rows_loaded_at
        if loaded_at:
            _merge_loaded_at(first, loaded_at)
        count = finding.count
        entry.count += count
        entry.total_s += finding.total_s
        if count > entry.max_count_per_scope:
            entry.max_count_per_scope = count
        entry.scope_count += 1
        entry.found_count += 1
        scopes = entry.scopes
        if len(scopes) < MAX_SCOPES_LISTED and finding.scope not in scopes:
            scopes.append(finding.scope)

    def add_duplicate(self, finding: DuplicateFinding) -> None:
        """Fold one scope's duplicate finding in."""
        self.add_duplicates([finding])

    def add_duplicates(self, findings: Sequence[DuplicateFinding]) -> None:
        """Fold the duplicate findings of one scope in, counting the scope once.

        One scope has a finding for each parameter set it repeated (the same
        lookup for author 1, then for author 2): they merge into one entry,
        whose ``scope_count`` counts the scope once and ``repeated_sets``
        each of them.
        """
        merged: set[int] = set()
        for finding in findings:
            entry = self._entry((finding.fingerprint, finding.call_sites), finding)
            if entry is None:
                continue
            entry.add(
                finding.scope, finding.count, finding.total_s, id(entry) not in merged
            )
            merged.add(id(entry))

    def to_list(self) -> list[dict[str, Any]]:
        """Return the merged findings as JSON-ready data, most time first."""
        return sorted(
            (m.to_dict() for m in self._merged.values()),
            key=lambda d: (-d["total_s"], -d["count"], d["fingerprint"]),
        )
