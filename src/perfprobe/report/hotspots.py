"""Find memory hot spots in report records: big blocks and rising checkpoints."""

from __future__ import annotations

from typing import Any


def blocks_over(
    records: list[dict[str, Any]], threshold_bytes: float
) -> list[dict[str, Any]]:
    """Return the worst block per label whose peak is over ``threshold_bytes``.

    Each entry has the ``record`` with the highest ``peak_above_start_bytes``,
    ``blocks_over_threshold`` (how many blocks with that label exceeded it)
    and ``given_back_bytes``: how much of the peak was freed before the block
    ended, or ``None`` without heap figures.
    """
    worst: dict[str, dict[str, Any]] = {}
    for record in records:
        peak = record.get("peak_above_start_bytes")
        if record["kind"] != "block" or peak is None or not peak > threshold_bytes:
            continue
        entry = worst.setdefault(
            record["label"], {"record": record, "blocks_over_threshold": 0}
        )
        entry["blocks_over_threshold"] += 1
        if peak > entry["record"]["peak_above_start_bytes"]:
            entry["record"] = record

    for entry in worst.values():
        record = entry["record"]
        delta = record["heap_delta_bytes"]
        entry["given_back_bytes"] = (
            record["peak_above_start_bytes"] - max(delta, 0)
            if delta is not None
            else None
        )
    return list(worst.values())


def checkpoint_rises(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the largest rise in bytes between checkpoints of each scope.

    Checkpoints are taken in time order; the rise is measured from the lowest
    earlier checkpoint, on the heap when every checkpoint has a heap figure
    and on RSS otherwise. Scopes with a single checkpoint have no rise.
    """
    series: dict[str | None, list[dict[str, Any]]] = {}
    for record in records:
        if record["kind"] == "checkpoint":
            series.setdefault(record["scope"], []).append(record)

    rises = []
    for scope, points in series.items():
        points.sort(key=lambda r: r["started_at"])
        use_heap = all(p["heap_current_bytes"] is not None for p in points)
        metric = "heap_current_bytes" if use_heap else "rss_bytes"
        low, best = points[0], None
        for point in points[1:]:
            rise = point[metric] - low[metric]
            if best is None or rise > best[0]:
                best = (rise, low, point)
            if point[metric] < low[metric]:
                low = point
        if best is not None:
            rise, start, end = best
            rises.append(
                {
                    "label": end["label"],
                    "from_label": start["label"],
                    "scope": scope,
                    "metric": "heap" if use_heap else "rss",
                    "rise_bytes": rise,
                }
            )
    return rises
