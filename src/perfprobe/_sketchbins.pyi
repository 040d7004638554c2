"""Types of the optional C bin counting; see ``sketch.count_sorted_bins``."""

def count_bins(
    values: list[float],
    counts: dict[int, int],
    bins_per_octave: float,
    min_positive: float,
    /,
) -> tuple[float, float, float] | None: ...
