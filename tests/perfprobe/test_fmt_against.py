"""Tests for report.fmt.format_against: a time shown apart from its limit."""

from __future__ import annotations

import pytest

from perfprobe.report.fmt import format_against, format_duration


@pytest.mark.parametrize(
    ("seconds", "limit_s", "shown"),
    [
        # Differently shown already: as format_duration shows it.
        (0.51, 0.5, "510 ms"),
        (0.5, 0.5, "500 ms"),
        # Shown alike: digits added past those shown, in the same unit.
        (0.5003, 0.5, "500.3 ms"),
        (0.0503, 0.05, "50.3 ms"),
        (0.0005001, 0.0005, "0.5001 ms"),
        (0.00050000001, 0.0005, "0.50000001 ms"),
        (1.004, 1.0, "1.004 s"),
        (1.0000001, 1.0, "1.0000001 s"),
    ],
)
def test_a_time_shown_like_its_limit_gets_the_digits_that_tell_them_apart(
    seconds: float, limit_s: float, shown: str
) -> None:
    """A slow query of 0.5001 ms against 0.5 ms reads 0.5001 ms, not 0.5 ms.

    The digits were added from one, whatever the text already had: under a
    millisecond (three digits) the first try, "0.5 ms", differed from the
    limit's "0.500 ms" as text and was taken, reading as no more than the
    limit; past a second it switched to "1,000.0 ms" against "1.00 s".
    """
    assert format_against(seconds, limit_s) == shown
    if seconds != limit_s:
        unit = shown.split()[-1]
        scale = 1000 if unit == "ms" else 1
        digits = len(shown.split()[0].partition(".")[2])
        limit = f"{limit_s * scale:,.{digits}f} {unit}"
        assert shown != limit and format_duration(limit_s) != shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        # 400 ns is 0.0004 ms: its first digit that is not zero, not "0.000".
        (4e-7, "0.0004 ms"),
        (-4e-7, "-0.0004 ms"),
        # 30 ns and 2 ns.
        (3e-8, "0.00003 ms"),
        (2e-9, "0.000002 ms"),
        # From a microsecond up, three decimals as before.
        (1e-6, "0.001 ms"),
        (0.0005, "0.500 ms"),
        # A femtosecond (1e-12 ms, the most decimals shown), and under half
        # of one, where every digit shown would be a zero: a bound instead.
        (1e-15, "0.000000000001 ms"),
        (4e-16, "< 0.000000000001 ms"),
        (1e-33, "< 0.000000000001 ms"),
        (5e-324, "< 0.000000000001 ms"),
        (-1e-33, "> -0.000000000001 ms"),
        (float("nan"), "nan ms"),
        (float("-inf"), "-inf s"),
    ],
)
def test_a_time_under_a_microsecond_shows_its_first_digit(
    seconds: float, shown: str
) -> None:
    """A 400 ns slow-query threshold printed "0.000 ms", which reads as zero."""
    assert format_duration(seconds) == shown
