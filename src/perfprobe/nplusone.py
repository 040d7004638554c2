"""Group one scope's queries to find N+1 loops and duplicate queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from .events import (
    RAW_BULK_CALL,
    RAW_DURATION_S,
    RAW_PARAMS_HASH,
    RAW_SQL_HASH,
    LazyLoad,
    QueryEvent,
    RawQuery,
)
from .findings import DuplicateFinding as DuplicateFinding
from .findings import NPlusOneFinding as NPlusOneFinding
from .querygroups import GroupFacts, group_facts
from .scopefindings import ScopeFindings, _Duplicate, _Once, _promote
from .sketch import load_fold

# Transaction control repeats by design (every atomic block begins and ends
# one); flagging it as N+1 or duplicate would be noise.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START")

# Knowing that parameters differ needs only two distinct values; a few more
# give a useful "distinct values" figure without growing with the loop.
_MAX_DISTINCT_PARAMS = 64

_sql_hash = itemgetter(RAW_SQL_HASH)


@dataclass(slots=True)
class _Group:
    fingerprint: str
    call_site: str | None
    sql: str
    count: int = 0
    total_s: float = 0.0
    param_hashes: set[int] = field(default_factory=set)
    lazy_load: LazyLoad | None = None
    #: The bulk call last counted here; its other batches are not counted.
    bulk_call: int = 0


#: Fingerprints judged by ``_is_transaction_control``, at most
#: ``_MAX_JUDGED``: every scope asks again for each of its shapes (a
#: request's N+1 view, twice a request), and a look-up costs a fraction of
#: the test.
_judged: dict[str, bool] = {}
_MAX_JUDGED = 1024


def _is_transaction_control(fingerprint: str) -> bool:
    found = _judged.get(fingerprint)
    if found is not None:
        return found
    # Nine characters hold the longest keyword: upper-casing the whole
    # fingerprint would cost more than the test.
    found = fingerprint.lstrip("( ")[:9].upper().startswith(_TRANSACTION_CONTROL)
    if len(_judged) >= _MAX_JUDGED:
        _judged.clear()
    _judged[fingerprint] = found
    return found


#: ``ScopeQueries.add_records``'s common case in C (``_fold.add_new_run``),
#: where built and not turned off; it answers False for anything else.
AddNewRun = Callable[..., bool]
_add_new_run: AddNewRun | None = load_fold("add_new_run")


def new_run_parts() -> tuple[type[_Group], dict[str, bool], int] | None:
    """Return what ``_fold.add_new_run`` takes besides the run, or ``None``.

    The group type, the judged-fingerprint memo and the parameter bound;
    ``None`` where the C common case is not loaded (or turned off).
    """
    if _add_new_run is None:
        return None
    return _Group, _judged, _MAX_DISTINCT_PARAMS


class ScopeQueries(ScopeFindings):
    """Group one scope's queries by shape and call site, in bounded memory.

    Interleaved queries do not matter: grouping is by key, not by sequence.
    The batches of one bulk ORM call (``QueryEvent.bulk_call``) count once,
    since the user made one call; their time still adds up. At most
    ``max_groups`` distinct keys are kept per table; queries past that are
    still counted by the collector but not analysed, and ``truncated`` is
    set so the report can say so.
    """

    def __init__(self, max_groups: int) -> None:
        self.max_groups = max_groups
        self.truncated = False
        self._groups: dict[tuple[str, str | None], _Group] = {}
        self._duplicates: dict[tuple[int, int], _Duplicate | _Once] = {}
        #: The entries of ``_duplicates`` seen more than once, in the order
        #: they were promoted: a scope's close looks at these, not at every
        #: statement it ran.
        self._promoted: list[_Duplicate] = []
        #: Runs of raw records whose statements are all new and distinct
        #: (an N+1 loop's), as ``(sql_hash, params hashes, records)``: their
        #: single sightings go into ``_duplicates`` only when something
        #: could repeat one, or all are asked for (``_settle``).
        self._waiting: list[tuple[int, list[int], list[RawQuery]]] = []
        self._waiting_count = 0
        #: The SQL hashes of every key in ``_duplicates`` and ``_waiting``.
        self._sql_seen: set[int] = set()

    def add(self, event: QueryEvent) -> None:
        """Add one query; batches (``executemany``) are not N+1 candidates."""
        if event.many or event.error_type is not None:
            return
        call_site = event.call_site
        group = self._groups.get((event.fingerprint, call_site))
        if group is None:
            # Tested only for a new key: transaction control never gets a
            # group, so it comes back here every time, and nothing else pays.
            if _is_transaction_control(event.fingerprint):
                return
            if len(self._groups) >= self.max_groups:
                self.truncated = True
            else:
                group = self._groups[(event.fingerprint, call_site)] = _Group(
                    event.fingerprint, call_site, event.sql
                )
        bulk_call = event.bulk_call
        if group is not None:
            group.total_s += event.duration_s
            if not bulk_call or bulk_call != group.bulk_call:
                group.bulk_call = bulk_call
                group.count += 1
                if len(group.param_hashes) < _MAX_DISTINCT_PARAMS:
                    group.param_hashes.add(event.params_hash)
            if group.lazy_load is None:
                group.lazy_load = event.lazy_load

        dup_key = (event.sql_hash or hash(event.sql), event.params_hash)
        self._sighting(dup_key, event, event.duration_s, bulk_call, call_site)

    def _sighting(
        self,
        dup_key: tuple[int, int],
        once: _Once,
        duration_s: float,
        bulk_call: int,
        call_site: str | None,
    ) -> None:
        if self._waiting:
            self._settle()
        seen = self._duplicates.get(dup_key)
        if seen is None:
            if len(self._duplicates) >= self.max_groups:
                self.truncated = True
            else:
                # Most statements of an N+1 loop are never repeated: the event
                # itself stands for its single sighting until it is.
                self._duplicates[dup_key] = once
                self._sql_seen.add(dup_key[0])
            return
        if isinstance(seen, _Duplicate):
            dup = seen
        else:
            dup = self._duplicates[dup_key] = _promote(seen)
            self._promoted.append(dup)
        dup.total_s += duration_s
        if not bulk_call or bulk_call != dup.bulk_call:
            dup.bulk_call = bulk_call
            dup.count += 1
        if call_site and len(dup.call_sites) < 8:
            dup.call_sites.add(call_site)

    def add_records(
        self,
        shape: str,
        call_site: str | None,
        records: list[RawQuery],
        total_s: float,
        facts: GroupFacts | None = None,
    ) -> None:
        """Add raw queries of one fingerprint and call site, oldest first.

        The result is that of ``add`` called for each one in turn; the
        common case (no bulk call, no statement seen before) takes a few
        calls in C for the whole list. ``total_s`` is their summed duration,
        ``facts`` their ``group_facts`` where the fold has read them (its
        set is then this call's to keep). Each record holds ``shape`` at
        ``RAW_SQL`` already: a record seen once is kept as it is, and its
        fingerprint read from it if seen again.
        """
        if facts is None:
            facts = group_facts(records)
        if _add_new_run is not None and _add_new_run(
            self,
            shape,
            call_site,
            records,
            total_s,
            facts,
            _Group,
            _judged,
            _MAX_DISTINCT_PARAMS,
        ):
            # The common case (an N+1 loop new to the scope), in C.
            return
        params, bulk, distinct, one_sql, _, lazy_load = facts
        count = len(params)
        key = (shape, call_site)
        groups = self._groups
        group = groups.get(key)
        if group is None:
            if _is_transaction_control(shape):
                return
            if len(groups) >= self.max_groups:
                self.truncated = True
            elif not bulk and count <= _MAX_DISTINCT_PARAMS:
                # A new key's group made whole, as adding each in turn
                # leaves it: the set of its parameter hashes is theirs.
                groups[key] = _Group(
                    shape, call_site, shape, count, total_s, distinct, lazy_load
                )
            else:
                group = groups[key] = _Group(shape, call_site, shape)
        if group is not None:
            group.total_s += total_s
            hashes = group.param_hashes
            if not bulk:
                group.bulk_call = 0
                group.count += count
                if not hashes and count <= _MAX_DISTINCT_PARAMS:
                    # The same set as adding each in turn makes.
                    group.param_hashes = distinct
                elif len(hashes) + count <= _MAX_DISTINCT_PARAMS:
                    hashes.update(distinct)
                else:
                    for params_hash in params:
                        if len(hashes) >= _MAX_DISTINCT_PARAMS:
                            break
                        hashes.add(params_hash)
            else:
                for record in records:
                    bulk_call = record[RAW_BULK_CALL]
                    if not bulk_call or bulk_call != group.bulk_call:
                        group.bulk_call = bulk_call
                        group.count += 1
                        if len(hashes) < _MAX_DISTINCT_PARAMS:
                            hashes.add(record[RAW_PARAMS_HASH])
            if group.lazy_load is None:
                group.lazy_load = lazy_load

        if bulk:
            pass
        elif (
            one_sql
            and (sql_hash := records[0][RAW_SQL_HASH]) not in self._sql_seen
            and len(distinct) == count
            and len(self._duplicates) + self._waiting_count + count <= self.max_groups
        ):
            # An N+1 loop of a statement not seen before: every statement
            # new, each its own single sighting, kept as the run until one
            # could be seen again.
            self._sql_seen.add(sql_hash)
            self._waiting.append((sql_hash, params, records))
            self._waiting_count += count
            return
        if self._waiting:
            self._settle()
        keys = list(zip(map(_sql_hash, records), params, strict=True))
        duplicates = self._duplicates
        if (
            not bulk
            and len(duplicates) + len(keys) <= self.max_groups
            and duplicates.keys().isdisjoint(keys)
            and len(set(keys)) == len(keys)
        ):
            # Every statement new, each its own single sighting.
            duplicates.update(zip(keys, records, strict=True))
            self._sql_seen.update(map(_sql_hash, records))
            return
        for dup_key, record in zip(keys, records, strict=True):
            self._sighting(
                dup_key,
                record,
                record[RAW_DURATION_S],
                record[RAW_BULK_CALL],
                call_site,
            )

    def _settle(self) -> None:
        """Put the waiting runs' single sightings into ``_duplicates``, in order.

        Nothing was added to ``_duplicates`` since they came: whatever adds
        settles them first, so the table's order is that of adding each
        query in turn.
        """
        waiting = self._waiting
        self._waiting = []
        self._waiting_count = 0
        duplicates = self._duplicates
        for sql_hash, params, records in waiting:
            keys = zip(repeat(sql_hash), params, strict=False)
            duplicates.update(zip(keys, records, strict=True))
