"""Describe single events in one line, for printing measurements as they happen."""

from __future__ import annotations

from ..events import (
    ErrorEvent,
    Event,
    MemoryRecord,
    OperationEvent,
    QueryEvent,
    RequestEvent,
)

_SQL_WIDTH = 80


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _mb(size_bytes: int | None) -> str:
    return "n/a" if size_bytes is None else f"{size_bytes / 2**20:+.1f} MB"


def _short(text: str) -> str:
    return text if len(text) <= _SQL_WIDTH else text[: _SQL_WIDTH - 1] + "…"


def describe_event(event: Event) -> str:
    """Return a one-line, human-readable description of ``event``."""
    if isinstance(event, OperationEvent):
        failed = f" raised {event.error_type}" if event.error_type else ""
        return f"operation {event.name}: {_ms(event.duration_s)}{failed}"
    if isinstance(event, QueryEvent):
        where = f" at {event.call_site}" if event.call_site else ""
        failed = f" raised {event.error_type}" if event.error_type else ""
        batch = f" x{event.batch_size}" if event.many else ""
        return (
            f"query {_ms(event.duration_s)}{batch}{failed}: "
            f"{_short(event.fingerprint)}{where}"
        )
    if isinstance(event, RequestEvent):
        return (
            f"request {event.method} {event.route} -> {event.status} in "
            f"{_ms(event.duration_s)}, {event.query_count} queries"
        )
    if isinstance(event, MemoryRecord):
        if event.kind == "checkpoint":
            return (
                f"memory checkpoint {event.label}: RSS {event.rss_bytes / 2**20:.1f} MB"
            )
        return (
            f"memory block {event.label}: heap {_mb(event.heap_delta_bytes)}, "
            f"peak {_mb(event.peak_above_start_bytes)} above start"
            + (" (process-wide)" if event.process_wide else "")
        )
    assert isinstance(event, ErrorEvent)
    return f"error in {event.source} {event.name}: {event.error_type}"
