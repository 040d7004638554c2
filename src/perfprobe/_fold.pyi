"""Types of the optional C fold loops.

Their definitions: ``threadlog``, ``sketch``, ``querygroups``, ``rawrecords``,
``querytable``, ``nplusone`` and ``querylog``.
"""

from collections import deque
from typing import Any

def split_records(
    records: list[Any], /
) -> tuple[dict[str, list[float]], list[list[Any]]] | None: ...
def count_bins(
    values: list[float],
    counts: dict[int, int],
    bins_per_octave: float,
    min_positive: float,
    /,
) -> tuple[float, float, float] | None: ...
def group_queries(
    batch: list[list[Any]], /
) -> (
    tuple[
        list[tuple[tuple[Any, Any, Any], list[list[Any]], list[float], float]],
        list[float],
    ]
    | None
): ...
def settle_group(
    records: list[list[Any]], shape: str, path: str | None, sql_hash: int, /
) -> tuple[list[int], bool, set[int], bool, Any, Any] | None: ...
def add_in_range(
    bins: list[float], offset: int, counts: dict[int, int], /
) -> int | None: ...
def indices_above(values: list[float], floor: float, /) -> list[int] | None: ...
def keep_record(
    queries: list[list[Any]], spare: list[list[Any]], items: tuple[Any, ...], /
) -> int: ...
def recycle_records(
    recent: deque[Any], count: int, spare: list[list[Any]], bound: int, /
) -> None: ...
def add_new_run(
    queries: Any,
    shape: str,
    call_site: str | None,
    records: list[list[Any]],
    total_s: float,
    facts: tuple[list[int], bool, set[int], bool, Any, Any],
    group_type: type[Any],
    judged: dict[str, bool],
    max_params: int,
    /,
) -> bool: ...
def fold_groups(
    groups: list[Any],
    start: int,
    progress: list[int],
    fingerprint: Any,
    table: Any,
    lineage: Any,
    states: dict[int, Any],
    shapes: dict[str, Any],
    max_call_sites: int,
    runs: dict[Any, tuple[list[float], list[float]]],
    group_type: type[Any],
    judged: dict[str, bool],
    max_params: int,
    /,
) -> int: ...
