"""Flag memory blocks and checkpoint rises over the high-memory limit."""

from __future__ import annotations

from typing import Any

from ...conf import PerfprobeSettings
from .. import advice, hotspots
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
            record["label"], peak, block["given_back_bytes"], queries
        ),
    )


def _rise_recommendation(
    rise: dict[str, Any], threshold_bytes: float, data: ReportData
) -> Recommendation:
    return Recommendation(
        rule_id="high-memory",
        severity="warning",
        title=(
            f"Memory rose {format_bytes(rise['rise_bytes'])} between checkpoints "
            f"{rise['from_label']!r} and {rise['label']!r}"
        ),
        evidence={**rise, "threshold_bytes": threshold_bytes},
        suggestion=advice.high_memory(
            rise["label"], rise["rise_bytes"], None, ran_queries(data, rise["scope"])
        ),
    )


@register_rule("high-memory")
def high_memory(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag blocks peaking, or checkpoint series rising, over the memory limit."""
    threshold_bytes = settings.HIGH_MEMORY_MB * BYTES_PER_MB
    records = data["memory"]["records"]
    flagged = hotspots.blocks_over(records, threshold_bytes)
    blocks = [_block_recommendation(block, threshold_bytes, data) for block in flagged]
    rises = [
        _rise_recommendation(rise, threshold_bytes, data)
        for rise in hotspots.checkpoint_rises(records)
        if rise["rise_bytes"] > threshold_bytes
        and not _inside_flagged_block(rise, records, flagged)
    ]
    return blocks + rises


def _inside_flagged_block(
    rise: dict[str, Any], records: list[dict[str, Any]], flagged: list[dict[str, Any]]
) -> bool:
    """Return whether a rise's checkpoints were taken inside a flagged block.

    Such a rise is the block's own peak seen from inside: one finding, the
    block's, covers both.
    """
    times = [
        r["started_at"]
        for r in records
        if r["kind"] == "checkpoint"
        and r["scope"] == rise["scope"]
        and r["label"] in (rise["label"], rise["from_label"])
    ]
    for block in flagged:
        record = block["record"]
        start, duration = record["started_at"], record.get("duration_s")
        if record["scope"] != rise["scope"] or duration is None or not times:
            continue
        if all(start <= t <= start + duration for t in times):
            return True
    return False
