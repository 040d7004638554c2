"""Find N+1 query patterns and duplicate queries among one scope's queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import LazyLoad, QueryEvent

# Transaction control repeats by design (every atomic block begins and ends
# one); flagging it as N+1 or duplicate would be noise.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START")

# Knowing that parameters differ needs only two distinct values; a few more
# give a useful "distinct values" figure without growing with the loop.
_MAX_DISTINCT_PARAMS = 64


@dataclass
class _Group:
    fingerprint: str
    call_site: str | None
    sql: str
    count: int = 0
    total_s: float = 0.0
    param_hashes: set[int] = field(default_factory=set)
    lazy_load: LazyLoad | None = None


@dataclass
class _Duplicate:
    fingerprint: str
    sql: str
    count: int = 0
    total_s: float = 0.0
    call_sites: set[str] = field(default_factory=set)


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

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return {
            "scope": self.scope,
            "fingerprint": self.fingerprint,
            "call_site": self.call_site,
            "count": self.count,
            "distinct_params": self.distinct_params,
            "total_s": self.total_s,
            "sample_sql": self.sample_sql,
            "lazy_load": self.lazy_load.to_dict() if self.lazy_load else None,
        }


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


class ScopeQueries:
    """Group one scope's queries by shape and call site, in bounded memory.

    Interleaved queries do not matter: grouping is by key, not by sequence.
    At most ``max_groups`` distinct keys are kept per table; queries past that
    are still counted by the collector but not analysed, and ``truncated`` is
    set so the report can say so.
    """

    def __init__(self, max_groups: int) -> None:
        self.max_groups = max_groups
        self.truncated = False
        self._groups: dict[tuple[str, str | None], _Group] = {}
        self._duplicates: dict[tuple[int, int], _Duplicate] = {}

    def add(self, event: QueryEvent) -> None:
        """Add one query; batches (``executemany``) are not N+1 candidates."""
        if event.many or event.error_type is not None:
            return
        if event.fingerprint.lstrip("( ").upper().startswith(_TRANSACTION_CONTROL):
            return
        key = (event.fingerprint, event.call_site)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= self.max_groups:
                self.truncated = True
            else:
                group = self._groups[key] = _Group(
                    event.fingerprint, event.call_site, event.sql
                )
        if group is not None:
            group.count += 1
            group.total_s += event.duration_s
            if len(group.param_hashes) < _MAX_DISTINCT_PARAMS:
                group.param_hashes.add(event.params_hash)
            if group.lazy_load is None:
                group.lazy_load = event.lazy_load

        dup_key = (event.sql_hash or hash(event.sql), event.params_hash)
        dup = self._duplicates.get(dup_key)
        if dup is None:
            if len(self._duplicates) >= self.max_groups:
                self.truncated = True
                return
            dup = self._duplicates[dup_key] = _Duplicate(event.fingerprint, event.sql)
        dup.count += 1
        dup.total_s += event.duration_s
        if event.call_site and len(dup.call_sites) < 8:
            dup.call_sites.add(event.call_site)

    def n_plus_one(self, scope: str, min_queries: int) -> list[NPlusOneFinding]:
        """Return groups of at least ``min_queries`` with differing parameters."""
        found = [
            NPlusOneFinding(
                scope=scope,
                fingerprint=g.fingerprint,
                call_site=g.call_site,
                count=g.count,
                distinct_params=len(g.param_hashes),
                total_s=g.total_s,
                sample_sql=g.sql,
                lazy_load=g.lazy_load,
            )
            for g in self._groups.values()
            if g.count >= min_queries and len(g.param_hashes) >= 2
        ]
        return sorted(found, key=lambda f: (-f.count, -f.total_s))

    def duplicates(
        self,
        scope: str,
        min_repeats: int,
        n_plus_one: Sequence[NPlusOneFinding] = (),
    ) -> list[DuplicateFinding]:
        """Return identical SQL-and-parameter pairs run ``min_repeats`` times or more.

        Repeats that all come from the call site of an N+1 finding of the same
        shape are left out: they are that loop revisiting a row, and the N+1
        fix removes them too.
        """
        covered = {(f.fingerprint, f.call_site) for f in n_plus_one}
        found = [
            DuplicateFinding(
                scope=scope,
                fingerprint=d.fingerprint,
                count=d.count,
                total_s=d.total_s,
                sample_sql=d.sql,
                call_sites=tuple(sorted(d.call_sites)),
            )
            for d in self._duplicates.values()
            if d.count >= min_repeats
            and not (
                len(d.call_sites) == 1
                and (d.fingerprint, next(iter(d.call_sites))) in covered
            )
        ]
        return sorted(found, key=lambda f: (-f.count, -f.total_s))
