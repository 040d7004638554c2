"""Write the suggestion of a high-memory finding, fitted to what ran there."""

from __future__ import annotations

from .fmt import format_bytes


def high_memory(
    label: str,
    peak_bytes: int | float,
    given_back: int | None,
    ran_queries: bool | None = None,
) -> str:
    """Return how to reduce the memory ``label`` needed.

    Queryset advice comes only when queries ran there (``ran_queries``), and
    as a condition when the report cannot tell.
    """
    suggestion = (
        f"{label!r} needed {format_bytes(peak_bytes)} at once: stream the data "
        f"instead of loading it whole — {_streaming(ran_queries)}"
    )
    if given_back is not None and given_back >= peak_bytes / 2:
        suggestion += (
            f" {format_bytes(given_back)} of it was freed before the block ended, "
            "so the peak comes from materialising a large intermediate result."
        )
    elif given_back is not None:
        suggestion += (
            " Most of it was still held when the block ended: look for caches or "
            "module-level collections that keep growing."
        )
    return suggestion


def _streaming(ran_queries: bool | None) -> str:
    rest = (
        "build results with generators instead of lists and process items in batches."
    )
    querysets = (
        "iterate querysets with .iterator(chunk_size=2000), fetch only the "
        "columns needed with values_list() or only()"
    )
    if ran_queries:
        return f"{querysets}, {rest}"
    if ran_queries is None:
        return f"{rest} If the data comes from queries, {querysets}."
    return rest
