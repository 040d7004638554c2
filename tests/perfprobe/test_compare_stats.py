"""Test the comparison's statistics (``perfprobe.compare.stats``)."""

from __future__ import annotations

import pytest

from perfprobe.compare.stats import (
    CHANGED,
    FASTER,
    FEWER,
    MORE,
    SAME,
    SLOWER,
    UNCHANGED,
    CountRange,
    Estimate,
    estimate,
    judge_count,
    judge_timing,
    median,
    spread,
)


def test_median_and_spread_of_known_values() -> None:
    """The median interpolates between the middle two; the spread is max - min."""
    assert median([0.4, 0.1, 0.3, 0.2]) == pytest.approx(0.25)
    assert spread([0.4, 0.1, 0.3, 0.2]) == pytest.approx(0.3)
    assert spread([0.4]) is None


def test_estimate_takes_the_median_of_runs_by_default() -> None:
    """Three runs: the middle value, their range and the run count."""
    found = estimate([1.0, 3.0, 1.5])
    assert found == Estimate(value_s=1.5, spread_s=2.0, runs=3, samples=3)


def test_estimate_at_p95_of_five_runs() -> None:
    """p95 of 1..5 sits at rank 3.8: 4 + 0.8 * (5 - 4) = 4.8."""
    assert estimate([5.0, 1.0, 2.0, 4.0, 3.0], 0.95).value_s == pytest.approx(4.8)


def test_a_fifty_percent_rise_without_spread_is_slower() -> None:
    """One run each, 100 ms -> 150 ms: +50 % beats a 10 % tolerance."""
    change = judge_timing(estimate([0.100]), estimate([0.150]), 0.10)

    assert change.verdict == SLOWER
    assert change.relative == pytest.approx(0.5)
    assert change.noise_s is None


def test_a_fifty_percent_fall_is_faster() -> None:
    """200 ms -> 100 ms is half the time: faster."""
    change = judge_timing(estimate([0.200]), estimate([0.100]), 0.10)
    assert change.verdict == FASTER
    assert change.relative == pytest.approx(-0.5)


def test_a_change_inside_the_spread_is_unchanged() -> None:
    """Old runs 100/140/120 ms spread 40 ms; a 30 ms rise is within it."""
    old = estimate([0.100, 0.140, 0.120])
    new = estimate([0.150, 0.150, 0.150])

    change = judge_timing(old, new, 0.10)

    assert change.delta_s == pytest.approx(0.030)
    assert change.noise_s == pytest.approx(0.040)
    assert change.beyond_tolerance and not change.beyond_noise
    assert change.verdict == UNCHANGED


def test_the_larger_spread_of_both_reports_is_the_noise() -> None:
    """Old spread 10 ms, new spread 60 ms: a 50 ms rise hides in the new spread."""
    old = estimate([0.100, 0.110])
    new = estimate([0.130, 0.190])

    change = judge_timing(old, new, 0.0)

    assert change.noise_s == pytest.approx(0.060)
    assert change.verdict == UNCHANGED


def test_a_change_inside_the_tolerance_is_unchanged() -> None:
    """+8 % with no spread is below a 10 % tolerance."""
    change = judge_timing(estimate([1.00]), estimate([1.08]), 0.10)
    assert change.beyond_noise and not change.beyond_tolerance
    assert change.verdict == UNCHANGED


def test_a_change_exactly_at_the_tolerance_is_unchanged() -> None:
    """2 s -> 2.5 s is exactly 25 %: only a larger change counts."""
    assert judge_timing(estimate([2.0]), estimate([2.5]), 0.25).verdict == UNCHANGED
    assert judge_timing(estimate([2.0]), estimate([2.5]), 0.24).verdict == SLOWER


def test_a_change_exactly_at_the_spread_is_unchanged() -> None:
    """Spread 0.5 s (1.5 and 2 s) and a 0.5 s rise: not larger, so unchanged."""
    old = estimate([1.5, 2.0])
    new = estimate([2.25, 2.25])
    change = judge_timing(old, new, 0.0)
    assert change.delta_s == 0.5 and change.noise_s == 0.5
    assert change.verdict == UNCHANGED


def test_a_change_beyond_both_spread_and_tolerance_is_slower() -> None:
    """Runs 100/104 ms then 150/154 ms: +50 ms beats 4 ms spread and 10 %."""
    change = judge_timing(estimate([0.100, 0.104]), estimate([0.150, 0.154]), 0.10)
    assert change.verdict == SLOWER


def test_from_zero_any_rise_is_beyond_tolerance() -> None:
    """A relative change from 0 is undefined; a rise from 0 still counts."""
    change = judge_timing(estimate([0.0]), estimate([0.001]), 0.10)
    assert change.relative is None
    assert change.verdict == SLOWER
    assert judge_timing(estimate([0.0]), estimate([0.0]), 0.10).verdict == UNCHANGED


def test_negative_tolerance_is_refused() -> None:
    """A tolerance below 0 is a programming error."""
    with pytest.raises(ValueError, match="tolerance"):
        judge_timing(estimate([1.0]), estimate([1.0]), -0.1)


@pytest.mark.parametrize(
    ("old", "new", "verdict"),
    [
        ((12, 12), (12, 12), SAME),
        ((12, 12), (13, 13), MORE),
        ((12, 12), (12, 13), MORE),
        ((12, 13), (11, 11), FEWER),
        ((12, 13), (11, 13), CHANGED),
    ],
)
def test_counts_compare_exactly(
    old: tuple[int, int], new: tuple[int, int], verdict: str
) -> None:
    """Any run above the old highest is more; a lower highest is fewer."""
    assert judge_count(CountRange(*old), CountRange(*new)) == verdict


def test_count_range_prints_one_value_or_a_range() -> None:
    """A count the same in every run prints as one number."""
    assert str(CountRange.of([12, 12])) == "12"
    assert str(CountRange.of([13, 12, 14])) == "12-14"
