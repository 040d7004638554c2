"""Make events of folded raw query records and keep spent records for reuse.

The folded records wait in the recent events (made events only when read).
When a fold's batch pushes the oldest out, a record that nothing else holds
(the slowest queries and a scope's analysis may) is kept spare, up to
``querylog.SPARE_RECORDS``, and the recorder fills it again for a later
query instead of making a list: a new tracked list a query, alive until the
recent events let it go, was what kept bringing on the cyclic collector. A
read, which makes events of the records in the recent events, keeps the
records it replaced spare the same way. The spare list is the collector's,
shared by all threads: the recorder takes one with a single ``pop`` (or in
C), the fold and the read give them back under the lock.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Any

from .events import (
    RAW_ALIAS,
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_EVENT,
    RAW_LAZY_LOAD,
    RAW_PARAMS_HASH,
    RAW_SCOPE,
    RAW_SQL,
    RAW_SQL_HASH,
    RAW_STARTED_AT,
    RAW_THREAD_ID,
    RAW_VENDOR,
    QueryEvent,
    RawQuery,
)
from .sketch import load_fold

#: The length of a raw query record (timer records are shorter).
RAW_LENGTH = RAW_EVENT + 1

_getrefcount = sys.getrefcount
_NONES = (None,) * RAW_LENGTH

KeepRecord = Callable[[list[RawQuery], list[RawQuery], tuple[Any, ...]], int]
RecycleRecords = Callable[[deque[Any], int, list[RawQuery], int], None]


def query_event(record: RawQuery) -> QueryEvent:
    """Return the ``QueryEvent`` of a folded record, made once and kept in it."""
    event: QueryEvent | None = record[RAW_EVENT]
    if event is None:
        shape = record[RAW_SQL]
        event = record[RAW_EVENT] = QueryEvent(
            record[RAW_ALIAS],
            record[RAW_VENDOR],
            shape,
            shape,
            record[RAW_DURATION_S],
            record[RAW_STARTED_AT],
            record[RAW_THREAD_ID],
            record[RAW_SCOPE],
            record[RAW_CALL_SITE],
            False,
            1,
            None,
            record[RAW_PARAMS_HASH],
            None,
            record[RAW_LAZY_LOAD],
            record[RAW_SQL_HASH],
            record[RAW_BULK_CALL],
        )
    return event


def keep_record(
    queries: list[RawQuery], spare: list[RawQuery], items: tuple[Any, ...]
) -> int:
    """Append a raw query record holding ``items`` to ``queries``; return its length.

    The record is the last of ``spare``, filled again, when there is one,
    else a new list. The definition of ``_fold.keep_record``; the recorder
    runs the same inline where it is not built.
    """
    try:
        record = spare.pop()
    except IndexError:
        queries.append(list(items))
    else:
        record[:] = items
        queries.append(record)
    return len(queries)


def recycle_records(
    recent: deque[Any], count: int, spare: list[RawQuery], bound: int
) -> None:
    """Remove the ``count`` oldest items of ``recent``; keep raw records spare.

    A raw query record that nothing else holds (a scope's analysis or the
    slowest queries may) goes to ``spare``, its items set to ``None``, while
    it holds fewer than ``bound``, for the recorder to fill again instead of
    making a new list: records made a query and kept until the recent events
    let go of them were what brought the cyclic collector's generation 0
    past its threshold. The definition of ``_fold.recycle_records``.
    """
    popleft = recent.popleft
    for _ in range(min(count, len(recent))):
        item = popleft()
        # What a list held by this frame alone shows (two on 3.11, ``item``
        # and the call's argument), read the same way, not assumed: the
        # interpreter may borrow the argument's reference. Made after
        # ``item``, a new probe each time: a tracer that reads the frame's
        # locals (a debugger stopped here) holds the probe only if it holds
        # ``item`` too, where one probe made first was held alone and a
        # record held by one other thing passed as free.
        if type(item) is not list or len(item) != RAW_LENGTH or len(spare) >= bound:
            continue
        probe: list[Any] = []
        if _getrefcount(item) == _getrefcount(probe):
            # Emptied, so that its items are freed with the batch's and
            # spare keeps nothing alive.
            item[:] = _NONES
            spare.append(item)


def load_keep_record() -> KeepRecord | None:
    """Return the C ``keep_record`` where built and not turned off."""
    found: KeepRecord | None = load_fold("keep_record")
    return found


def load_recycle_records() -> RecycleRecords:
    """Return the C ``recycle_records``, else its Python definition."""
    found: RecycleRecords | None = load_fold("recycle_records")
    return recycle_records if found is None else found


def made_query_events(
    recent: deque[Any], spare: list[RawQuery] | None = None, bound: int = 0
) -> None:
    """Turn the folded raw query records in ``recent`` into events, in place.

    A record that nothing else holds once its event took its place goes to
    ``spare`` while it holds fewer than ``bound``, as ``recycle_records``
    keeps those the recent events let go of: without it, a read (a polling
    live report) left nothing to recycle for the next ``RECENT_EVENTS_SIZE``
    queries, each made a new list.
    """
    for index in range(len(recent)):
        item = recent[index]
        if type(item) is list and len(item) == RAW_LENGTH:
            recent[index] = query_event(item)
            if spare is None or len(spare) >= bound:
                continue
            # Made after ``item``, as in recycle_records.
            probe: list[Any] = []
            if _getrefcount(item) == _getrefcount(probe):
                item[:] = _NONES
                spare.append(item)
