"""Write the suggestion of a high-memory finding, fitted to what ran there."""

from __future__ import annotations

from .fmt import format_bytes


def high_memory(
    label: str,
    peak_bytes: int | float,
    given_back: int | None,
    ran_queries: bool | None = None,
    rss_kept_bytes: int | None = None,
) -> str:
    """Return how to reduce the memory ``label`` needed.

    Queryset advice comes only when queries ran there (``ran_queries``), and
    as a condition when the report cannot tell. ``rss_kept_bytes`` is how
    much higher the process's RSS was when the block ended: with the heap
    freed, memory the allocator kept.
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
        if rss_kept_bytes is not None and rss_kept_bytes >= peak_bytes / 2:
            suggestion += (
                f" The process's resident memory (RSS) stayed "
                f"{format_bytes(rss_kept_bytes)} higher after it: memory the "
                "allocator kept for reuse rather than returning it to the "
                "operating system, not live objects."
            )
    elif given_back is not None:
        suggestion += (
            " Most of it was still held when the block ended: look for caches or "
            "module-level collections that keep growing."
        )
    return suggestion


def checkpoint_rise(
    from_label: str,
    label: str,
    rise_bytes: int | float,
    metric: str,
    heap_delta_bytes: int | None,
    ran_queries: bool | None = None,
) -> str:
    """Return what to look at when memory rose between two checkpoints.

    ``metric`` is ``"rss"`` or ``"heap"``, what the rise was measured on;
    ``heap_delta_bytes`` the heap change between the checkpoints when both
    have a heap figure. A checkpoint only reads the memory, so the advice
    is about the code that ran between them. An RSS rise with a small heap
    change is memory the allocator kept after a large temporary was freed,
    not live objects.
    """
    measure = "resident memory (RSS)" if metric == "rss" else "Python heap"
    text = (
        f"The code that ran between checkpoints {from_label!r} and {label!r} "
        f"left the process's {measure} {format_bytes(rise_bytes)} higher. "
    )
    if metric == "rss" and heap_delta_bytes is not None:
        if heap_delta_bytes < rise_bytes / 2:
            return text + (
                f"The Python heap changed by only {format_bytes(heap_delta_bytes)} "
                "over that span, so the rise is not live objects: it is memory "
                "the allocator kept after a large temporary allocation was freed "
                "(RSS a process seldom returns to the operating system), which "
                "later allocations reuse. To lower it, avoid the large temporary: "
                f"{_streaming(ran_queries)} Or run that work in a child process."
            )
        return text + _still_alive(heap_delta_bytes, ran_queries)
    if metric == "rss":
        return text + (
            "RSS also counts memory the allocator keeps after objects are "
            "freed: wrap the code between them in a track_memory_usage() block "
            "to see its peak and whether its heap was freed (tracemalloc). If it "
            f"loads much data at once, {_streaming(ran_queries)}"
        )
    return text + _still_alive(rise_bytes, ran_queries)


def _still_alive(heap_bytes: int | float, ran_queries: bool | None) -> str:
    return (
        f"{format_bytes(heap_bytes)} of Python objects created there are still "
        "alive at the second checkpoint: look for caches or module-level "
        "collections that keep growing, or results held longer than needed. "
        f"If it loads much data at once, {_streaming(ran_queries)}"
    )


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
