"""Decide whether a change is real: spread across runs, tolerance, exact counts.

A timing changed only when the difference is larger than the spread seen
across the repeated runs (the larger spread of the two reports, counting
only a report with two or more runs) *and* larger than the tolerance, a
fraction of the old value. With a single run in both reports no spread is
known, and the tolerance alone decides, for a statistic of enough samples
on both sides (``MIN_SAMPLES``); with fewer it is not judged. A statistic
taken across the runs themselves (a scenario's p95) has no spread of its
own: it needs the minimum whatever the runs. Counts have no noise: any
difference is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..stats import inclusive_percentile

SLOWER = "slower"
FASTER = "faster"
UNCHANGED = "unchanged"
#: Not judged: too few samples behind the statistic and no spread known.
TOO_FEW = "too few"

#: The fewest samples (requests, calls, runs) behind a statistic on each
#: side for a single-run comparison to judge it by the tolerance alone.
#: Millisecond timings spread far wider than a 10 % tolerance between their
#: quartiles, so a sample median outside them reads as a regression. 5
#: samples put the median between the true quartiles only about 4 times in
#: 5 (6: 2 in 3), and with 5 or 6 the narrowest distribution-free interval
#: of 94 % or more for the median is the whole sample, fastest to slowest;
#: 20 put it there 97 times in 100, its 96 % interval (6th to 15th value)
#: inside the sample's quartiles. With fewer than 20 not even one sample is
#: expected above the true p95, so the sample's p95 (inclusive
#: interpolation, at rank 0.95 (n - 1)) lies between its two slowest
#: values, mostly the slowest. No count of samples removes a shift of the
#: whole run (a busier machine): only repeated runs measure that.
MIN_SAMPLES = {0.5: 20, 0.95: 20}

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
    #: The samples behind the value in all runs: requests, calls or runs.
    samples: int


def estimate(
    per_run: Sequence[float], quantile: float = 0.5, *, samples: int | None = None
) -> Estimate:
    """Return the ``quantile`` of the per-run values, with their spread.

    The median (the default) of per-run medians keeps one odd run from moving
    the figure; the spread still shows it. ``samples`` defaults to the number
    of runs. Raise ``ValueError`` on no values.
    """
    if not per_run:
        raise ValueError("an estimate needs at least one run")
    return Estimate(
        value_s=inclusive_percentile(sorted(per_run), quantile),
        spread_s=spread(per_run),
        runs=len(per_run),
        samples=len(per_run) if samples is None else samples,
    )


@dataclass(frozen=True)
class TimingChange:
    """How one statistic moved between two reports, and the verdict.

    ``relative`` is the change as a fraction of the old value, ``None`` when
    the old value is 0. ``noise_s`` is the spread the change had to beat,
    ``None`` when neither report had repeated runs; ``too_few`` says that
    then one side had too few samples for the statistic to be judged.
    """

    old: Estimate
    new: Estimate
    delta_s: float
    relative: float | None
    noise_s: float | None
    tolerance: float
    beyond_noise: bool
    beyond_tolerance: bool
    too_few: bool = False

    @property
    def samples(self) -> int:
        """Return the fewer samples of the two sides."""
        return min(self.old.samples, self.new.samples)

    @property
    def verdict(self) -> str:
        """Return ``slower``, ``faster``, ``unchanged`` or ``too few``."""
        if self.too_few:
            return TOO_FEW
        if not (self.beyond_noise and self.beyond_tolerance):
            return UNCHANGED
        return SLOWER if self.delta_s > 0 else FASTER


def judge_timing(
    old: Estimate,
    new: Estimate,
    tolerance: float,
    *,
    min_samples: int = 0,
    across_runs: bool = False,
) -> TimingChange:
    """Compare two estimates of one statistic; ``tolerance`` is a fraction (0.1).

    Without a spread (a single run on both sides) a side with fewer than
    ``min_samples`` samples leaves the statistic unjudged (``too few``).
    ``across_runs`` says the statistic is taken over the runs (a scenario's
    p95): the spread is then that of its inputs, not of the statistic, and
    the minimum applies with a spread too. Raise ``ValueError`` for a
    negative tolerance.
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
        too_few=(noise_s is None or across_runs)
        and min(old.samples, new.samples) < min_samples,
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
