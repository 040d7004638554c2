"""Decide whether a change is real: spread across runs, tolerance, exact counts.

A timing changed only when the difference is larger than the spread seen
across the repeated runs (the larger spread of the two reports, counting
only a report with two or more runs) *and* larger than the tolerance, a
fraction of the old value. With a single run in both reports no spread is
known, and the tolerance alone decides. Counts have no noise: any difference
is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..stats import inclusive_percentile

SLOWER = "slower"
FASTER = "faster"
UNCHANGED = "unchanged"

MORE = "more"
FEWER = "fewer"
CHANGED = "changed"
SAME = "same"


def median(values: Sequence[float]) -> float:
    """Return the median of ``values`` (inclusive linear interpolation)."""
    return inclusive_percentile(sorted(values), 0.5)


def spread(values: Sequence[float]) -> float | None:
    """Return the range (max - min) of ``values``, or ``None`` below two values."""
    if len(values) < 2:
        return None
    return max(values) - min(values)


@dataclass(frozen=True)
class Estimate:
    """One statistic of one report: its value across runs and their spread, s."""

    value_s: float
    spread_s: float | None
    runs: int


def estimate(per_run: Sequence[float], quantile: float = 0.5) -> Estimate:
    """Return the ``quantile`` of the per-run values, with their spread.

    The median (the default) of per-run medians keeps one odd run from moving
    the figure; the spread still shows it. Raise ``ValueError`` on no values.
    """
    if not per_run:
        raise ValueError("an estimate needs at least one run")
    return Estimate(
        value_s=inclusive_percentile(sorted(per_run), quantile),
        spread_s=spread(per_run),
        runs=len(per_run),
    )


@dataclass(frozen=True)
class TimingChange:
    """How one statistic moved between two reports, and the verdict.

    ``relative`` is the change as a fraction of the old value, ``None`` when
    the old value is 0. ``noise_s`` is the spread the change had to beat,
    ``None`` when neither report had repeated runs.
    """

    old: Estimate
    new: Estimate
    delta_s: float
    relative: float | None
    noise_s: float | None
    tolerance: float
    beyond_noise: bool
    beyond_tolerance: bool

    @property
    def verdict(self) -> str:
        """Return ``slower``, ``faster`` or ``unchanged``."""
        if not (self.beyond_noise and self.beyond_tolerance):
            return UNCHANGED
        return SLOWER if self.delta_s > 0 else FASTER


def judge_timing(old: Estimate, new: Estimate, tolerance: float) -> TimingChange:
    """Compare two estimates of one statistic; ``tolerance`` is a fraction (0.1).

    Raise ``ValueError`` for a negative tolerance.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be 0 or more, not {tolerance!r}")
    delta_s = new.value_s - old.value_s
    spreads = [s for s in (old.spread_s, new.spread_s) if s is not None]
    noise_s = max(spreads) if spreads else None
    if old.value_s > 0:
        relative: float | None = delta_s / old.value_s
        beyond_tolerance = abs(delta_s) > tolerance * old.value_s
    else:
        # From zero any change is infinitely many percent.
        relative = None
        beyond_tolerance = delta_s != 0
    return TimingChange(
        old=old,
        new=new,
        delta_s=delta_s,
        relative=relative,
        noise_s=noise_s,
        tolerance=tolerance,
        beyond_noise=noise_s is None or abs(delta_s) > noise_s,
        beyond_tolerance=beyond_tolerance,
    )


@dataclass(frozen=True)
class CountRange:
    """The lowest and highest value of one count across a report's runs."""

    low: int
    high: int

    @classmethod
    def of(cls, values: Sequence[int]) -> CountRange:
        """Return the range of ``values``; raise ``ValueError`` on none."""
        if not values:
            raise ValueError("a count range needs at least one run")
        return cls(min(values), max(values))

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def judge_count(old: CountRange, new: CountRange) -> str:
    """Return ``more``, ``fewer``, ``changed`` or ``same``.

    A count rose when some new run went above every old run (``more``) and
    fell when every new run stayed below the old highest (``fewer``); when
    only the lowest value moved it ``changed``.
    """
    if new.high > old.high:
        return MORE
    if new.high < old.high:
        return FEWER
    if new.low != old.low:
        return CHANGED
    return SAME
