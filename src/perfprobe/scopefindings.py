"""Make the N+1 and duplicate findings of one scope's grouped queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import takewhile
from operator import is_not
from typing import TYPE_CHECKING

from .events import (
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_SQL,
    LazyLoad,
    QueryEvent,
    RawQuery,
)
from .findings import DuplicateFinding, NPlusOneFinding
from .nplusoneloader import rows_loaded_at

if TYPE_CHECKING:
    from .nplusone import _Group

#: ``findings.made`` written out where a scope closes (see ``made``).
_new = object.__new__
_set = object.__setattr__

#: A statement seen once: its event, or its raw record (which holds its
#: fingerprint at ``RAW_SQL`` by then: the fold puts it there first).
_Once = QueryEvent | RawQuery


@dataclass
class _Duplicate:
    fingerprint: str
    sql: str
    count: int = 0
    total_s: float = 0.0
    call_sites: set[str] = field(default_factory=set)
    bulk_call: int = 0


def _promote(once: _Once) -> _Duplicate:
    """Return the ``_Duplicate`` that counts the single sighting ``once``.

    A statement seen once so far in a scope is kept as its event (or raw
    record): most statements of an N+1 loop differ in their parameters and
    are never repeated, so a full ``_Duplicate`` is made only on the second
    sighting.
    """
    if isinstance(once, QueryEvent):
        dup = _Duplicate(
            once.fingerprint, once.sql, 1, once.duration_s, bulk_call=once.bulk_call
        )
        call_site = once.call_site
    else:
        # Raw records are kept only without their SQL: it is the shape.
        shape = once[RAW_SQL]
        dup = _Duplicate(
            shape, shape, 1, once[RAW_DURATION_S], bulk_call=once[RAW_BULK_CALL]
        )
        call_site = once[RAW_CALL_SITE]
    if call_site:
        dup.call_sites.add(call_site)
    return dup


class ScopeFindings:
    """The findings part of ``nplusone.ScopeQueries``: its groups read out.

    Mixed into ``ScopeQueries``, whose tables it reads; the grouping that
    fills them is there.
    """

    _groups: dict[tuple[str, str | None], _Group]
    _duplicates: dict[tuple[int, int], _Duplicate | _Once]
    _promoted: list[_Duplicate]
    _waiting: list[tuple[int, list[int], list[RawQuery]]]

    if TYPE_CHECKING:

        def _settle(self) -> None: ...

    def shapes(self) -> tuple[tuple[str | None, str, LazyLoad | None], ...]:
        """Return each group's call site, fingerprint and lazy load, first first."""
        return tuple(
            (g.call_site, g.fingerprint, g.lazy_load) for g in self._groups.values()
        )

    def n_plus_one(self, scope: str, min_queries: int) -> list[NPlusOneFinding]:
        """Return groups of at least ``min_queries`` with differing parameters."""
        found: list[NPlusOneFinding] = []
        # A loop, not a comprehension (a frame of its own in this Python),
        # and made() written out: once per scope's close, for each of its
        # shapes.
        for g in self._groups.values():
            if g.count >= min_queries and len(g.param_hashes) >= 2:
                loaded_at = None
                if g.lazy_load is not None:
                    # The groups are in the order each first ran: those
                    # before this one ran their first query before its.
                    before = takewhile(partial(is_not, g), self._groups.values())
                    loaded_at = rows_loaded_at(before, g, g.lazy_load)
                finding = _new(NPlusOneFinding)
                _set(
                    finding,
                    "__dict__",
                    {
                        "scope": scope,
                        "fingerprint": g.fingerprint,
                        "call_site": g.call_site,
                        "count": g.count,
                        "distinct_params": len(g.param_hashes),
                        "total_s": g.total_s,
                        "sample_sql": g.sql,
                        "lazy_load": g.lazy_load,
                        "rows_loaded_at": loaded_at,
                    },
                )
                found.append(finding)
        if len(found) > 1:
            found.sort(key=lambda f: (-f.count, -f.total_s))
        return found

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
        # Waiting runs hold single sightings only: wanted only when a single
        # sighting is enough.
        if min_repeats > 1:
            if not self._promoted:
                return []
        elif self._waiting:
            self._settle()
        if not self._duplicates:
            return []
        covered = {(f.fingerprint, f.call_site) for f in n_plus_one}
        # A statement seen once is still its event: it qualifies only when a
        # single sighting is enough, and is promoted only then.
        if min_repeats <= 1:
            candidates = [
                seen if isinstance(seen, _Duplicate) else _promote(seen)
                for seen in self._duplicates.values()
            ]
        else:
            candidates = [d for d in self._promoted if d.count >= min_repeats]
            if len(candidates) > 1:
                # Equal counts and times keep the order of first sighting,
                # which the promotions need not have.
                candidates = [
                    seen
                    for seen in self._duplicates.values()
                    if isinstance(seen, _Duplicate) and seen.count >= min_repeats
                ]
        found = [
            DuplicateFinding(
                scope=scope,
                fingerprint=d.fingerprint,
                count=d.count,
                total_s=d.total_s,
                sample_sql=d.sql,
                call_sites=tuple(sorted(d.call_sites)),
            )
            for d in candidates
            if d.count >= min_repeats
            and not (
                len(d.call_sites) == 1
                and (d.fingerprint, next(iter(d.call_sites))) in covered
            )
        ]
        return sorted(found, key=lambda f: (-f.count, -f.total_s))
