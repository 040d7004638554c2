"""Types of the optional C fold loops; see ``threadlog`` and ``sketch``."""

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
