"""Tests for the request benchmark's pure parts: round order, ratios, markdown."""

from __future__ import annotations

import pytest

from bench.requests.analysis import (
    ViewResult,
    check_targets,
    compare,
    pair_means,
    round_orders,
)
from bench.requests.cli import main
from bench.requests.formatting import view_table


def test_round_orders_rotate_and_reverse_each_pair() -> None:
    """Each pair is a rotation followed by its mirror image."""
    assert round_orders(["a", "b", "c"], 3) == [
        ["a", "b", "c"],
        ["c", "b", "a"],
        ["b", "c", "a"],
        ["a", "c", "b"],
        ["c", "a", "b"],
        ["b", "a", "c"],
    ]


def test_every_configuration_has_the_same_mean_position_in_a_pair() -> None:
    """A linear drift over a pair adds the same time to every configuration."""
    for order, mirror in zip(*[iter(round_orders(list("abcd"), 4))] * 2, strict=True):
        positions = {n: order.index(n) + mirror.index(n) for n in order}
        assert set(positions.values()) == {3}


def test_pair_means_average_consecutive_rounds() -> None:
    """Rounds 0-1 and 2-3 form the pairs."""
    assert pair_means([10.0, 20.0, 30.0, 50.0]) == [15.0, 40.0]


def test_compare_works_per_round_pair() -> None:
    """Ratio, added time and rate come from pair means, medians over pairs."""
    baseline = [100.0, 100.0, 200.0, 200.0, 100.0, 300.0]  # pairs 100, 200, 200
    measured = [110.0, 130.0, 250.0, 250.0, 150.0, 350.0]  # pairs 120, 250, 250
    result = compare(measured, baseline, queries=50)
    # Per pair: ratios 100/120, 200/250, 200/250 -> median 0.8.
    assert result.ratio == pytest.approx(0.8)
    # Added 20, 50, 50 ns -> median 50; per query 1 ns.
    assert result.added_ns == pytest.approx(50.0)
    assert result.added_ns_per_query == pytest.approx(1.0)
    # Rates 1e9/120, 1e9/250, 1e9/250 -> median 4e6 per second.
    assert result.requests_per_s == pytest.approx(4e6)
    # Range over median for fewer than 4 values: (1e9/120 - 4e6) / 4e6.
    assert result.requests_per_s_spread == pytest.approx((1e9 / 120 - 4e6) / 4e6)


def _result(ratio: float, added_ns: float, queries: int = 0) -> ViewResult:
    return ViewResult(
        requests_per_s=1.0,
        requests_per_s_spread=0.0,
        ratio=ratio,
        ratio_spread=0.0,
        added_ns=added_ns,
        added_ns_per_query=added_ns / queries if queries else None,
    )


def test_targets_pass_and_miss_on_their_bounds() -> None:
    """5 µs is within the target, the 10x rule compares added times."""
    fast = {"perfprobe": _result(0.95, 5_000)}
    slow = {
        "perfprobe": _result(0.97, 102_000, 51),  # 2 µs per query
        "toolbar": _result(0.5, 1_020_000, 51),  # exactly 10x
        "nplusone": _result(0.9, 500_000, 51),  # under 5x
    }
    targets = check_targets(fast, slow, "perfprobe", True, ["toolbar", "nplusone"])
    assert [t.verdict for t in targets] == [
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "PASS",
        "MISS",
    ]
    assert targets[-1].measured == "4.9x (500 µs vs 102.0 µs)"


def test_targets_miss_when_perfprobe_did_not_run() -> None:
    """Without perfprobe's figures every target is a miss."""
    targets = check_targets({}, {}, "perfprobe", False, [])
    assert all(not t.passed for t in targets)
    assert targets[0].measured == "not run"


def test_view_table_formats_rates_ratios_and_costs() -> None:
    """A row shows rate with spread, ratio, added µs and the recorded flag."""
    result = ViewResult(1234.4, 0.05, 0.9876, 0.1, 2_500.0, 49.0)
    table = view_table("N+1", {"perfprobe": result}, {"perfprobe": "yes"}, True)
    assert table.splitlines()[-1] == (
        "| perfprobe | 1,234 ±5% | 0.988 ±10% | +2.5 | +0.0 | yes |"
    )


def test_unknown_configuration_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --only value is a one-line error and status 2, before any work."""
    assert main(["--only", "nosuch"]) == 2
    assert capsys.readouterr().err == "error: --only: unknown configuration nosuch\n"
