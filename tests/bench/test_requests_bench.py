"""Tests for the request benchmark's pure parts: round order, ratios, markdown."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bench.requests.analysis import (
    ViewResult,
    check_targets,
    collector_results,
    compare,
    pair_means,
    round_orders,
)
from bench.requests.cli import _names, main
from bench.requests.formatting import collector_section, document, view_table
from bench.requests.tools import make_setup
from bench.requests.worker import Client, collector_time

from .viewresults import view_result


def test_round_orders_are_williams_rows_each_followed_by_its_mirror() -> None:
    """First row 0, 1, n-1, 2, n-2, ...; each next row shifted by one."""
    assert round_orders(["a", "b", "c", "d"], 4) == [
        ["a", "b", "d", "c"],
        ["c", "d", "b", "a"],
        ["b", "c", "a", "d"],
        ["d", "a", "c", "b"],
        ["c", "d", "b", "a"],
        ["a", "b", "d", "c"],
        ["d", "a", "c", "b"],
        ["b", "c", "a", "d"],
    ]
    assert round_orders(list("abcde"), 1)[0] == ["a", "b", "e", "c", "d"]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 9, 10])
def test_every_configuration_follows_every_other_twice_over_n_pairs(
    count: int,
) -> None:
    """No configuration always runs after the same neighbour (carry-over)."""
    names = [f"c{i}" for i in range(count)]
    follows: Counter[tuple[str, str]] = Counter()
    for order in round_orders(names, count):
        follows.update(pairwise(order))

    expected = {(a, b): 2 for a in names for b in names if a != b}
    assert dict(follows) == expected


def test_every_other_configuration_runs_just_before_the_baseline() -> None:
    """Plain rotations put only two neighbours before the baseline."""
    names = ["none", "control", "perfprobe", "nplusone", "toolbar"]
    before_baseline = Counter(
        order[order.index("none") - 1]
        for order in round_orders(names, len(names))
        if order.index("none") > 0
    )

    assert len(before_baseline) == len(names) - 1


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


def _app(cycles: int, sleep_s: float = 0.0) -> Callable[..., Iterable[bytes]]:
    """Return a WSGI app that leaves ``cycles`` cyclic garbage lists a request."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        for _ in range(cycles):
            garbage: list[Any] = []
            garbage.append(garbage)  # only the cyclic collector can free it
        if sleep_s:
            time.sleep(sleep_s)
        start_response("200 OK", [])
        return [b"{}"]

    return app


def test_collector_time_counts_collections_of_cyclic_garbage() -> None:
    """100 cyclic lists a request: a gen-0 pass every ~7 requests, timed."""
    assert gc.isenabled()
    threshold = gc.get_threshold()[0]
    n, cycles = 210, 100
    callbacks = list(gc.callbacks)
    answer = collector_time(Client(_app(cycles)), "/", n, 20, 10**10)
    assert answer["requests"] == n
    assert answer["warmup"] == 20
    # The count passes the threshold every threshold + 1 net tracked
    # allocations; the request's own dicts are freed within it, the lists
    # are not: about n * cycles / (threshold + 1) collections (30 here).
    expected = n * cycles / (threshold + 1)
    assert expected / 2 <= sum(answer["counts"]) <= expected * 2
    assert answer["ns"][0] > 0
    assert all(ns >= 0 for ns in answer["ns"])
    assert gc.callbacks == callbacks  # the hook is gone again


def test_collector_time_is_zero_when_a_request_leaves_no_garbage() -> None:
    """No cyclic garbage and no forced collection: no pass at all."""
    assert gc.isenabled()
    gc.collect()  # the count starts at zero, as after the bench's batches
    answer = collector_time(Client(_app(0)), "/", 2_000, 200, 10**10)
    assert answer == {
        "requests": 2_000,
        "warmup": 200,
        "counts": [0, 0, 0],
        "ns": [0, 0, 0],
    }


def test_collector_time_stops_at_its_budget() -> None:
    """2 ms requests and a 40 ms budget: about 20 measured, 5 warm-up."""
    answer = collector_time(Client(_app(0, 0.002)), "/", 1_000, 1_000, 40_000_000)
    assert 1 <= answer["requests"] <= 21
    assert 1 <= answer["warmup"] <= 6


def test_collector_time_raises_on_a_bad_status() -> None:
    """A view that fails is an error, not a cheap request."""

    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("500 Internal Server Error", [])
        return [b""]

    with pytest.raises(RuntimeError, match="500"):
        collector_time(Client(broken), "/lazy/", 10, 0, 10**10)


def _collector_answers() -> dict[str, dict[str, Any]]:
    return {
        # 1.76 µs a request.
        "none": {
            "requests": 1_000,
            "warmup": 250,
            "counts": [40, 4, 0],
            "ns": [1_600_000, 160_000, 0],
        },
        # (13.2 + 3.6 + 28) ms / 1,000 = 44.8 µs a request.
        "perfprobe": {
            "requests": 1_000,
            "warmup": 250,
            "counts": [240, 24, 2],
            "ns": [13_200_000, 3_600_000, 28_000_000],
        },
    }


def test_collector_results_add_the_collector_to_the_timed_per_query_cost() -> None:
    """(405 µs timed + 44.8 - 1.76 µs collector) / 51 = 8.785 µs a query."""
    timed = {
        "none": view_result(1.0, 0.0, 51),
        "perfprobe": view_result(0.94, 405_000, 51),
    }
    results = collector_results(_collector_answers(), timed, "none", 51)
    perfprobe = results["perfprobe"]
    assert perfprobe.ns_per_request == pytest.approx(44_800)
    assert perfprobe.per_request == pytest.approx((0.24, 0.024, 0.002))
    assert perfprobe.added_ns_per_query == pytest.approx(448_040 / 51)
    assert results["none"].added_ns_per_query == pytest.approx(0.0)
    # Without queries, or without the baseline's answer, no per-query figure.
    assert (
        collector_results(_collector_answers(), timed, "none", 0)[
            "perfprobe"
        ].added_ns_per_query
        is None
    )
    answers = {"perfprobe": _collector_answers()["perfprobe"]}
    assert (
        collector_results(answers, timed, "none", 51)["perfprobe"].added_ns_per_query
        is None
    )


def test_collector_section_tables_and_place_in_the_document() -> None:
    """Rows from hand-made numbers; the section sits before the proofs."""
    timed = {
        "none": view_result(1.0, 0.0, 51),
        "perfprobe": view_result(0.94, 405_000, 51),
    }
    results = collector_results(_collector_answers(), timed, "none", 51)
    lines = collector_section(["intro"], [("N+1", results, True)])
    assert lines[0] == (
        "#### Cyclic garbage collector (separate steady-state measurement, info)"
    )
    table = "\n".join(lines).splitlines()
    assert table[-2:] == [
        "| none | 1,000 (250) | 1.8 | 0.04 | 0.004 | 0 | +0.0 |",
        "| perfprobe | 1,000 (250) | 44.8 | 0.24 | 0.024 | 0.002 | +8.8 |",
    ]
    no_query = collector_section(["intro"], [("JSON", results, False)])
    assert no_query[-2].splitlines()[-1] == (
        "| perfprobe | 1,000 (250) | 44.8 | 0.24 | 0.024 | 0.002 |"
    )
    text = document(["head"], [], {}, {"none": "base"}, [], [], lines)
    assert text.index("Cyclic garbage") < text.index("What each configuration")


def test_targets_pass_and_miss_on_their_bounds() -> None:
    """5 µs is within the target, the 10x rule compares added times."""
    fast = {"perfprobe": view_result(0.95, 5_000)}
    slow = {
        "perfprobe": view_result(0.97, 102_000, 51),  # 2 µs per query
        "toolbar": view_result(0.5, 1_020_000, 51),  # exactly 10x
        "nplusone": view_result(0.9, 500_000, 51),  # under 5x
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


@pytest.mark.parametrize("name", ["perfprobe", "perfprobe-prometheus", "perfprobe-all"])
def test_perfprobe_configurations_never_log_findings_to_the_console(
    name: str, tmp_path: Path
) -> None:
    """DEBUG off and LOG_N_PLUS_ONE off: no scope listener stops batched closes."""
    settings = make_setup(name, tmp_path / "bench.sqlite3").settings

    assert settings["DEBUG"] is False
    assert settings["PERFPROBE"]["LOG_N_PLUS_ONE"] is False


@pytest.mark.parametrize(
    ("name", "prometheus"),
    [("perfprobe", False), ("perfprobe-prometheus", True), ("perfprobe-all", True)],
)
def test_only_the_prometheus_configurations_export_to_prometheus(
    name: str, prometheus: bool, tmp_path: Path
) -> None:
    """perfprobe-prometheus is the default set-up plus PROMETHEUS, no more."""
    settings = make_setup(name, tmp_path / "bench.sqlite3").settings

    assert settings["PERFPROBE"].get("PROMETHEUS", False) is prometheus
    if name == "perfprobe-prometheus":
        assert settings["PERFPROBE"] == {"LOG_N_PLUS_ONE": False, "PROMETHEUS": True}


def test_the_control_runs_after_the_baseline_unless_left_out() -> None:
    """--only names what runs besides both unmonitored workers."""
    assert _names(None)[:3] == ["none", "control", "perfprobe"]
    assert _names("nplusone, perfprobe") == ["none", "control", "perfprobe", "nplusone"]
    assert _names("perfprobe", control=False) == ["none", "perfprobe"]
    assert "control" not in _names(None, control=False)


@pytest.mark.parametrize("only", ["control", "none,control"])
def test_only_the_unmonitored_workers_is_a_bad_argument(
    only: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline timed against its own twin alone would judge nothing."""
    assert main(["--only", only]) == 2
    assert capsys.readouterr().err == (
        "error: --only: no configuration named besides none and control\n"
    )


def test_the_control_has_the_baseline_settings(tmp_path: Path) -> None:
    """The control differs from the baseline only by being another process."""
    database = tmp_path / "bench.sqlite3"
    control = make_setup("control", database)
    baseline = make_setup("none", database)

    assert control.settings == baseline.settings
    assert "perfprobe" not in str(control.settings)
    assert not control.before_setup and not control.after_setup
