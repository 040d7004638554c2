"""Group a fold's raw query records, settle each group and load the C loops."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import groupby, repeat
from operator import is_, itemgetter, setitem
from typing import Any

from .events import (
    RAW_ALIAS,
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_LAZY_LOAD,
    RAW_PARAMS_HASH,
    RAW_SCOPE,
    RAW_SQL,
    RAW_SQL_HASH,
    LazyLoad,
    RawQuery,
)
from .scope import Scope
from .sketch import load_fold

_duration = itemgetter(RAW_DURATION_S)
_group_key = itemgetter(RAW_SQL, RAW_SCOPE, RAW_CALL_SITE)
#: Run an iterator to its end in C, keeping nothing.
_consume: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend

_alias = itemgetter(RAW_ALIAS)
_bulk_call = itemgetter(RAW_BULK_CALL)
_params_hash = itemgetter(RAW_PARAMS_HASH)
_sql_hash = itemgetter(RAW_SQL_HASH)
_lazy_load = itemgetter(RAW_LAZY_LOAD)

GroupKey = tuple[str, Scope | None, str | None]
#: One group of a batch: its key, records, their durations and their sum.
QueryGroup = tuple[GroupKey, list[RawQuery], list[float], float]
GroupQueries = Callable[[list[RawQuery]], "tuple[list[QueryGroup], list[float]] | None"]

#: What the fold reads of one group's raw records, in one pass: their
#: parameter hashes in order, whether any belongs to a bulk call, the set of
#: those hashes, whether they share one SQL hash, the alias object every
#: one of them holds (``None`` if they differ; the query table's), and the
#: first lazy load among them (``None`` if none has one).
GroupFacts = tuple[list[int], bool, set[int], bool, Any, "LazyLoad | None"]
SettleGroup = Callable[[list[RawQuery], str, "str | None", int], "GroupFacts | None"]
#: ``_fold.fold_groups``: the groups from an index on, folded up to the
#: first it leaves to Python; returns that group's index.
FoldGroups = Callable[..., int]


def group_records(batch: list[RawQuery]) -> tuple[list[QueryGroup], list[float]]:
    """Group raw query records by SQL text, scope and call site.

    Return the groups in the order each was first seen, with each group's
    durations and their ``sum()``, and the durations of the whole batch in
    its order. Runs of one key (an N+1 loop) are found by
    ``itertools.groupby``; a later run of a key joins its group. The
    definition of ``_fold.group_queries``, which does the same in one call.
    """
    groups: dict[GroupKey, list[RawQuery]] = {}
    for key, run in groupby(batch, _group_key):
        found = groups.get(key)
        if found is None:
            groups[key] = list(run)
        else:
            found.extend(run)
    made = []
    for key, records in groups.items():
        durations = list(map(_duration, records))
        made.append((key, records, durations, sum(durations)))
    return made, list(map(_duration, batch))


def group_facts(records: list[RawQuery]) -> GroupFacts:
    """Return the ``GroupFacts`` of ``records`` (not empty).

    The definition of what ``_fold.settle_group`` returns.
    """
    params = list(map(_params_hash, records))
    alias = records[0][RAW_ALIAS]
    return (
        params,
        any(map(_bulk_call, records)),
        set(params),
        len(set(map(_sql_hash, records))) == 1,
        alias if all(map(is_, map(_alias, records), repeat(alias))) else None,
        next(filter(None, map(_lazy_load, records)), None),
    )


def settle_records(
    records: list[RawQuery], shape: str, path: str | None, sql_hash: int
) -> GroupFacts:
    """Put the group's shape, path and SQL hash into its records; return facts.

    The fingerprint replaces the SQL text (``RAW_SQL``) and the scope's path
    the scope (``RAW_SCOPE``): the recent events keep those, not SQL with
    its literals nor the scope and the summary it will hold. ``sql_hash`` is
    ``hash()`` of the group's SQL text, which every record of the group has:
    the recorder leaves ``RAW_SQL_HASH`` empty, so that one int per statement
    is made and kept, not one per query. The facts are ``group_facts``. The
    definition of ``_fold.settle_group``, which does it all in one pass.
    """
    _consume(map(setitem, records, repeat(RAW_SQL), repeat(shape)))
    _consume(map(setitem, records, repeat(RAW_SCOPE), repeat(path)))
    _consume(map(setitem, records, repeat(RAW_SQL_HASH), repeat(sql_hash)))
    return group_facts(records)


def load_group_queries() -> GroupQueries | None:
    """Return the C grouping where built and not turned off, else ``None``."""
    found: GroupQueries | None = load_fold("group_queries")
    return found


def load_settle_group() -> SettleGroup | None:
    """Return the C ``settle_records`` where built and not turned off."""
    found: SettleGroup | None = load_fold("settle_group")
    return found


def load_fold_groups() -> FoldGroups | None:
    """Return the C loop of ``QueryRecords._add_queries``, where built and on."""
    found: FoldGroups | None = load_fold("fold_groups")
    return found
