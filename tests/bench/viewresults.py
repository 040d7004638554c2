"""A request-bench ``ViewResult`` made from the two figures the tests set."""

from __future__ import annotations

from bench.requests.analysis import ViewResult


def view_result(ratio: float, added_ns: float, queries: int = 0) -> ViewResult:
    """Return a result with ``ratio`` and ``added_ns``; per query when ``queries``."""
    return ViewResult(
        requests_per_s=1.0,
        requests_per_s_spread=0.0,
        ratio=ratio,
        ratio_spread=0.0,
        added_ns=added_ns,
        added_ns_per_query=added_ns / queries if queries else None,
    )
