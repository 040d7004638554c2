"""Interleave benchmark variants, summarise them and print a results table."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: A variant runs ``ops`` operations and returns the nanoseconds they took,
#: so that per-batch setup (installing a hook, clearing a cache) stays out of
#: the timed part.
Batch = Callable[[int], int]


def relative_spread(values: Sequence[float]) -> float:
    """Return the interquartile range of ``values`` over their median."""
    if len(values) < 4:
        return 0.0
    q1, median, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / median


@dataclass(frozen=True)
class Timings:
    """Per-operation nanoseconds of one variant, one value per round."""

    name: str
    per_op_ns: tuple[float, ...]

    @property
    def median_ns(self) -> float:
        """Return the median per-operation time over the rounds."""
        return statistics.median(self.per_op_ns)

    @property
    def spread(self) -> float:
        """Return the interquartile range relative to the median (0.05 = 5%)."""
        return relative_spread(self.per_op_ns)


def interleave(
    variants: Sequence[tuple[str, Batch]], ops: int, rounds: int
) -> dict[str, Timings]:
    """Run every variant once per round, rotating the order, after a warm-up.

    Rotation (A B C, B C A, C A B, ...) spreads any drift of the machine
    evenly over the variants instead of always penalising the one that runs
    second. Garbage is collected before each round, never inside a batch.
    """
    for _, batch in variants:
        batch(ops)

    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    for round_index in range(rounds):
        shift = round_index % len(variants)
        gc.collect()
        for name, batch in [*variants[shift:], *variants[:shift]]:
            results[name].append(batch(ops) / ops)
    return {name: Timings(name, tuple(values)) for name, values in results.items()}


@dataclass(frozen=True)
class Comparison:
    """One variant against another, round by round."""

    ratio: float
    ratio_spread: float
    difference_ns: float


def compare(slow: Timings, fast: Timings) -> Comparison:
    """Return medians over rounds of ``slow / fast`` and ``slow - fast``.

    Each round's pair ran moments apart, so a slowdown of the whole machine
    during one round affects both sides of its ratio alike.
    """
    pairs = list(zip(slow.per_op_ns, fast.per_op_ns, strict=True))
    ratios = [s / f for s, f in pairs]
    return Comparison(
        ratio=statistics.median(ratios),
        ratio_spread=relative_spread(ratios),
        difference_ns=statistics.median(s - f for s, f in pairs),
    )


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``passed`` is ``None`` for info only."""

    benchmark: str
    baseline: str
    measured: str
    ratio: str
    detail: str
    target: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        """Return ``PASS``, ``MISS`` or ``info``."""
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "MISS"


def format_ns(ns: float) -> str:
    """Return a duration in the unit that keeps it readable."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def format_bytes(size: float) -> str:
    """Return a signed byte count in KiB or MiB."""
    if abs(size) < 1024 * 1024:
        return f"{size / 1024:+.1f} KiB"
    return f"{size / 1024 / 1024:+.2f} MiB"


def format_timing(timings: Timings) -> str:
    """Return a variant's median with its relative spread."""
    return f"{format_ns(timings.median_ns)} ±{timings.spread * 100:.0f}%"


def format_ratio(comparison: Comparison, digits: int = 2) -> str:
    """Return a ratio with its relative spread over the rounds."""
    spread = comparison.ratio_spread * 100
    return f"{comparison.ratio:.{digits}f}x ±{spread:.0f}%"


_HEADERS = ("benchmark", "baseline", "measured", "ratio", "detail", "target", "")


def format_table(rows: Sequence[Row]) -> str:
    """Return the rows as an aligned plain-text table."""
    cells = [_HEADERS] + [
        (r.benchmark, r.baseline, r.measured, r.ratio, r.detail, r.target, r.verdict)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADERS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
