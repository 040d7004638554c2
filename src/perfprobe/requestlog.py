"""Make ``RequestEvent``s from the raw values the request middleware records."""

from __future__ import annotations

from typing import Any

from .aggregates import ScopeSummary
from .events import Event, RequestEvent

#: What the middleware hands to ``Collector.request_ended``: the endpoint
#: ``(method, route)``, status, duration_s, started_at, thread_id,
#: query_string, error_type and raised_at, followed by the request scope's
#: id, name (its path: it has no parent) and start time, in that order. A
#: tuple costs one instruction to build, an event a dozen attribute stores;
#: made with the scope's fields, it is already what a quiet request keeps.
RawRequest = tuple[
    tuple[str, str],
    int,
    float,
    float,
    int,
    str | None,
    str | None,
    str | None,
    int,
    str,
    float,
]

#: What the collector keeps of a request in whose scope nothing was recorded:
#: its ``RawRequest``, the scope's fields ``None`` if the scope was not opened
#: in that collector. One flat tuple, shared by the recent events, the scope
#: history and the endpoint log, so the scope is freed with its request.
QuietRequest = tuple[
    tuple[str, str],
    int,
    float,
    float,
    int,
    str | None,
    str | None,
    str | None,
    int | None,
    str | None,
    float | None,
]

#: What the recent events keep of a request whose scope waited and closed
#: with queries (``Collector._close_waiting``), until read: its
#: ``RawRequest``, then its scope's query count, query time and path. Four
#: items, so neither a timer record nor a ``QuietRequest``.
ClosedRequest = tuple[RawRequest, int, float, str]
CLOSED_REQUEST_LENGTH = 4


def raw_request_event(
    scope_path: str | None, raw: RawRequest, summary: ScopeSummary | None
) -> RequestEvent:
    """Return the event of ``raw``, counting the queries of its scope's ``summary``."""
    method, route = raw[0]
    return RequestEvent(
        method=method,
        route=route,
        status=raw[1],
        duration_s=raw[2],
        started_at=raw[3],
        thread_id=raw[4],
        query_count=summary.query_count if summary else 0,
        query_time_s=summary.query_time_s if summary else 0.0,
        scope=scope_path,
        error_type=raw[6],
        raised_at=raw[7],
        query_string=raw[5],
    )


def made_event(item: Any) -> Event:
    """Return ``item`` of the recent events, made an event if it is still raw.

    A raw item is the ``QuietRequest`` of a request in whose scope nothing
    was recorded, or the ``ClosedRequest`` of one whose scope waited.
    """
    if type(item) is not tuple:
        return item  # type: ignore[no-any-return]
    if len(item) == CLOSED_REQUEST_LENGTH:
        raw, query_count, query_time_s, scope = item
    else:
        raw, query_count, query_time_s, scope = item, 0, 0.0, item[9]
    (method, route), status, duration_s, started_at, thread_id, query, error, at = raw[
        :8
    ]
    # Up to RECENT_EVENTS_SIZE of these are made per read: the fields are
    # set in one dict update rather than by the dataclass's __init__, which
    # costs three times as much. RequestEvent has no __post_init__ and no
    # slots; the collector's tests compare events made both ways.
    event: RequestEvent = object.__new__(RequestEvent)
    event.__dict__.update(
        method=method,
        route=route,
        status=status,
        duration_s=duration_s,
        started_at=started_at,
        thread_id=thread_id,
        query_count=query_count,
        query_time_s=query_time_s,
        scope=scope,
        error_type=error,
        raised_at=at,
        query_string=query,
        kind="request",
    )
    return event
