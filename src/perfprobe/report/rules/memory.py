"""Flag memory blocks and checkpoint rises over the high-memory limit."""

from __future__ import annotations

from typing import Any

from ...conf import PerfprobeSettings
from .. import advice, hotspots, memoryadvice
from ..fmt import BYTES_PER_MB, format_bytes
from ..model import Recommendation
from .registry import ReportData, register_rule
from .window import ran_queries


def _block_recommendation(
    block: dict[str, Any], threshold_bytes: float, data: ReportData
) -> Recommendation:
    record, peak = block["record"], block["record"]["peak_above_start_bytes"]
    queries = ran_queries(
        data, record["scope"], record["started_at"], record.get("duration_s")
    )
    return Recommendation(
        rule_id="high-memory",
        severity="warning",
        title=(
            f"Memory block {record['label']!r} peaked {format_bytes(peak)} above "
            f"its start (limit {format_bytes(threshold_bytes)})"
        ),
        evidence={
            "label": record["label"],
            "scope": record["scope"],
            "peak_above_start_bytes": peak,
            "heap_delta_bytes": record["heap_delta_bytes"],
            "given_back_bytes": block["given_back_bytes"],
            "rss_delta_bytes": record["rss_delta_bytes"],
            "threshold_bytes": threshold_bytes,
            "blocks_over_threshold": block["blocks_over_threshold"],
            "attribution": record["attribution"],
        },
        suggestion=advice.high_memory(
            record["label"],
            peak,
            block["given_back_bytes"],
            queries,
            rss_kept_bytes=record["rss_delta_bytes"],
        ),
    )


def _rise_recommendation(
    rise: dict[str, Any], threshold_bytes: float, data: ReportData
) -> Recommendation:
    heap_delta = _heap_between(rise, data["memory"]["records"])
    return Recommendation(
        rule_id="high-memory",
        severity="warning",
        title=(
            f"Memory rose {format_bytes(rise['rise_bytes'])} between checkpoints "
            f"{rise['from_label']!r} and {rise['label']!r}"
        ),
        evidence={
            **rise,
            "heap_delta_bytes": heap_delta,
            "threshold_bytes": threshold_bytes,
        },
        suggestion=memoryadvice.checkpoint_rise(
            rise["from_label"],
            rise["label"],
            rise["rise_bytes"],
            rise["metric"],
            heap_delta,
            ran_queries(data, rise["scope"]),
        ),
    )


@register_rule("high-memory")
def high_memory(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag blocks peaking, or checkpoint series rising, over the memory limit.

    A rise that a flagged block accounts for, one around the checkpoints or
    one between them, is left to the block's finding: one cause, one finding.
    """
    threshold_bytes = settings.HIGH_MEMORY_MB * BYTES_PER_MB
    records = data["memory"]["records"]
    flagged = hotspots.blocks_over(records, threshold_bytes)
    blocks = [_block_recommendation(block, threshold_bytes, data) for block in flagged]
    rises = [
        _rise_recommendation(rise, threshold_bytes, data)
        for rise in hotspots.checkpoint_rises(records)
        if rise["rise_bytes"] > threshold_bytes
        and not _inside_flagged_block(rise, records, flagged)
        and not _flagged_block_between(rise, records, threshold_bytes)
    ]
    return blocks + rises


def _checkpoint_times(
    rise: dict[str, Any], records: list[dict[str, Any]]
) -> list[float]:
    return [
        r["started_at"]
        for r in records
        if r["kind"] == "checkpoint"
        and r["scope"] == rise["scope"]
        and r["label"] in (rise["label"], rise["from_label"])
    ]


def _inside_flagged_block(
    rise: dict[str, Any], records: list[dict[str, Any]], flagged: list[dict[str, Any]]
) -> bool:
    """Return whether a rise's checkpoints were taken inside a flagged block.

    Such a rise is the block's own peak seen from inside: one finding, the
    block's, covers both.
    """
    times = _checkpoint_times(rise, records)
    for block in flagged:
        record = block["record"]
        start, duration = record["started_at"], record.get("duration_s")
        if record["scope"] != rise["scope"] or duration is None or not times:
            continue
        if all(start <= t <= start + duration for t in times):
            return True
    return False


def _flagged_block_between(
    rise: dict[str, Any], records: list[dict[str, Any]], threshold_bytes: float
) -> bool:
    """Return whether blocks over the limit between the checkpoints explain the rise.

    They do when they ran between the two checkpoints and their own change
    in the rise's measure (RSS or heap, end minus start) makes at least half
    of it, or when that change is not known. A block that freed its heap
    leaves no heap rise to explain, so a heap rise beside it stays a finding.
    """
    times = _checkpoint_times(rise, records)
    if not times:
        return False
    low, high = min(times), max(times)
    field = "rss_delta_bytes" if rise["metric"] == "rss" else "heap_delta_bytes"
    deltas = [
        r.get(field)
        for r in records
        if r["kind"] == "block"
        and r["scope"] == rise["scope"]
        and (r.get("peak_above_start_bytes") or 0) > threshold_bytes
        and r.get("duration_s") is not None
        and low <= r["started_at"]
        and r["started_at"] + r["duration_s"] <= high
    ]
    if not deltas:
        return False
    known = [int(delta) for delta in deltas if delta is not None]
    if len(known) < len(deltas):
        return True
    return sum(known) >= float(rise["rise_bytes"]) / 2


def _heap_between(rise: dict[str, Any], records: list[dict[str, Any]]) -> int | None:
    """Return the heap change from the rise's first checkpoint to its last.

    ``None`` when either checkpoint has no heap figure (tracemalloc was not
    tracing when it was taken).
    """
    points = sorted(
        (
            r
            for r in records
            if r["kind"] == "checkpoint"
            and r["scope"] == rise["scope"]
            and r["label"] in (rise["label"], rise["from_label"])
        ),
        key=lambda r: r["started_at"],
    )
    start = next((p for p in points if p["label"] == rise["from_label"]), None)
    end = next((p for p in reversed(points) if p["label"] == rise["label"]), None)
    if start is None or end is None:
        return None
    if start["heap_current_bytes"] is None or end["heap_current_bytes"] is None:
        return None
    return int(end["heap_current_bytes"] - start["heap_current_bytes"])
