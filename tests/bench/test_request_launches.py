"""Tests for the request benchmark over several launches: figures and verdicts.

Hand-computed figures only; no worker process is started.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import run_all
from bench.requests import cli
from bench.requests.analysis import Target, check_targets
from bench.requests.catalog import VIEWS_BY_NAME
from bench.requests.cli import Launched, main
from bench.requests.coordinator import QUICK_COLLECTOR, Measurements
from bench.requests.formatting import across_table, verdicts_table
from bench.requests.launches import (
    MET,
    MISSED,
    NOT_SETTLED,
    Launch,
    Spread,
    judge_launches,
    verdict,
    view_across,
)

from .viewresults import view_result


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([True, True, True], MET),
        ([True], MET),
        ([False, False, False], MISSED),
        ([True, False, True], NOT_SETTLED),
        ([False, True], NOT_SETTLED),
        # A launch that could not judge it (a tool did not run).
        ([True, None, True], NOT_SETTLED),
        ([False, None], MISSED),
        ([None, None], NOT_SETTLED),
        ([], NOT_SETTLED),
    ],
)
def test_verdict_needs_every_launch_to_agree(
    outcomes: list[bool | None], expected: str
) -> None:
    """MET only if all launches meet it, MISSED if none does."""
    assert verdict(outcomes) == expected


def test_spread_median_and_range_skip_missing_launches() -> None:
    """Median and range over the launches that measured the figure."""
    spread = Spread((7.9, 5.5, 6.1))
    assert (spread.median, spread.low, spread.high) == (6.1, 5.5, 7.9)
    # An even count: the mean of the middle two.
    gappy = Spread((None, 4.0, 2.0, 3.0, 9.0))
    assert gappy.measured == [4.0, 2.0, 3.0, 9.0]
    assert (gappy.median, gappy.low, gappy.high) == (3.5, 2.0, 9.0)
    empty = Spread((None,))
    assert (empty.median, empty.low, empty.high) == (None, None, None)


def _launch_targets(
    perfprobe_ns: float, nplusone_ns: float | None, toolbar_ns: float
) -> list[Target]:
    """Targets of one launch on /lazy/ only, perfprobe keeping 0.95."""
    lazy = {
        "none": view_result(1.0, 0.0, 51),
        "perfprobe": view_result(0.95, perfprobe_ns, 51),
        "debug-toolbar": view_result(0.4, toolbar_ns, 51),
    }
    detectors = ["debug-toolbar"]
    if nplusone_ns is not None:
        lazy["nplusone"] = view_result(0.7, nplusone_ns, 51)
        detectors.append("nplusone")
    return check_targets(None, lazy, "perfprobe", True, detectors)


def test_the_two_launches_of_the_notes_leave_the_nplusone_ratio_not_settled() -> None:
    """+7.9 then +5.5 µs a query, nplusone 7.1x then 10.2x: as on 5 December.

    Launch 1: 402.9 µs added a request (7.9 x 51), nplusone 2,860.59 µs,
    7.1x. Launch 2: 280.5 µs (5.5 x 51), nplusone 2,861.1 µs, 10.2x.
    """
    launches = [
        _launch_targets(402_900, 2_860_590, 10_579_000),
        _launch_targets(280_500, 2_861_100, 10_600_000),
    ]
    across = {t.description: t for t in judge_launches(launches)}
    assert list(across) == [
        "N+1 view: perfprobe adds <= 5 µs/query",
        "N+1 view: perfprobe keeps >= 0.97 of baseline",
        "N+1 view: perfprobe found and reported the N+1",
        "N+1 view: perfprobe >= 10x cheaper than debug-toolbar",
        "N+1 view: perfprobe >= 10x cheaper than nplusone",
    ]
    per_query = across["N+1 view: perfprobe adds <= 5 µs/query"]
    assert per_query.verdict == MISSED
    assert per_query.values.values == pytest.approx((7.9, 5.5))
    assert per_query.values.median == pytest.approx(6.7)
    assert across["N+1 view: perfprobe keeps >= 0.97 of baseline"].verdict == MISSED
    assert across["N+1 view: perfprobe found and reported the N+1"].verdict == MET
    toolbar = across["N+1 view: perfprobe >= 10x cheaper than debug-toolbar"]
    # 10,579 / 402.9 = 26.26x and 10,600 / 280.5 = 37.79x.
    assert toolbar.verdict == MET
    assert toolbar.values.values == pytest.approx((26.257, 37.790), abs=1e-3)
    nplusone = across["N+1 view: perfprobe >= 10x cheaper than nplusone"]
    assert nplusone.values.values == pytest.approx((7.1, 10.2))
    assert nplusone.verdict == NOT_SETTLED
    assert [nplusone.launch_cell(i) for i in range(2)] == ["7.1x ✗", "10.2x"]


def test_a_launch_without_a_tool_cannot_settle_its_ratio_as_met() -> None:
    """nplusone 12x, absent, 11x: not judged in launch 2, so NOT SETTLED."""
    launches = [
        _launch_targets(100_000, 1_200_000, 5_000_000),
        _launch_targets(100_000, None, 5_000_000),
        _launch_targets(100_000, 1_100_000, 5_000_000),
    ]
    across = {t.description: t for t in judge_launches(launches)}
    nplusone = across["N+1 view: perfprobe >= 10x cheaper than nplusone"]
    assert nplusone.per_launch[1] is None
    assert nplusone.verdict == NOT_SETTLED
    assert nplusone.values.median == pytest.approx(11.5)
    assert [nplusone.launch_cell(i) for i in range(3)] == ["12.0x", "—", "11.0x"]
    # 100 µs / 51 = 1.96 µs a query in every launch.
    assert across["N+1 view: perfprobe adds <= 5 µs/query"].verdict == MET


def test_verdicts_table_rows() -> None:
    """Each launch's figure, ✗ where missed, median, range, verdict."""
    launches = [
        check_targets(
            {"perfprobe": view_result(0.96, 4_000)}, None, "perfprobe", True, []
        ),
        check_targets(
            {"perfprobe": view_result(0.94, 6_500)}, None, "perfprobe", True, []
        ),
        check_targets(
            {"perfprobe": view_result(0.97, 4_500)}, None, "perfprobe", True, []
        ),
    ]
    lines = verdicts_table(judge_launches(launches), 3).splitlines()
    assert lines[2:] == [
        "| no-query view: perfprobe adds <= 5 µs/request | 4.0 µs / 6.5 µs ✗ / "
        "4.5 µs | 4.5 µs | 4.0 µs to 6.5 µs | **NOT SETTLED** |",
        "| no-query view: perfprobe keeps >= 0.95 of baseline | 0.960 / 0.940 ✗ / "
        "0.970 | 0.960 | 0.940 to 0.970 | **NOT SETTLED** |",
    ]


def test_check_targets_leaves_out_a_view_not_run() -> None:
    """None for a view: no target of it, not a miss."""
    only_json = check_targets(
        {"perfprobe": view_result(0.96, 4_000)}, None, "perfprobe", False, []
    )
    assert [t.description[:8] for t in only_json] == ["no-query"] * 2
    assert [t.value for t in only_json] == [4.0, 0.96]
    assert check_targets(None, None, "perfprobe", False, []) == []


def test_view_across_per_query_share_and_collector() -> None:
    """Per launch per query, share, collector; the baseline row left out."""
    launches = [
        Launch(
            {
                "lazy-list": {
                    "none": view_result(1.0, 0.0, 51),
                    "perfprobe": view_result(0.95, 306_000, 51),  # 6 µs a query
                }
            },
            [],
            {"none": 0.0, "perfprobe": 6_800.0},
        ),
        Launch(
            {
                "lazy-list": {
                    "none": view_result(1.0, 0.0, 51),
                    "perfprobe": view_result(0.96, 255_000, 51),  # 5 µs a query
                }
            },
            [],
            {"none": 0.0, "perfprobe": 5_900.0},
        ),
        Launch(
            {
                "lazy-list": {
                    "none": view_result(1.0, 0.0, 51),
                    "perfprobe": view_result(0.94, 357_000, 51),  # 7 µs a query
                }
            },
            [],
            {"none": 0.0, "perfprobe": 7_700.0},
        ),
    ]
    figures = view_across(launches, "lazy-list", True, "none")
    assert list(figures) == ["perfprobe"]
    perfprobe = figures["perfprobe"]
    assert perfprobe.added_ns.values == pytest.approx((6_000, 5_000, 7_000))
    assert perfprobe.added_ns.median == pytest.approx(6_000)
    assert perfprobe.ratio.median == pytest.approx(0.95)
    assert perfprobe.with_collector_ns is not None
    assert perfprobe.with_collector_ns.median == pytest.approx(6_800)
    line = across_table("N+1", figures, True).splitlines()[-1]
    assert line == (
        "| perfprobe | +6.0 / +5.0 / +7.0 | +6.0 | +5.0 to +7.0 | "
        "0.950 / 0.960 / 0.940 | 0.950 | 0.940 to 0.960 | +6.8 (+5.9 to +7.7) |"
    )
    # Per request on a no-query view, no collector column without its figures.
    no_gc = [Launch(launch.results, [], {}) for launch in launches]
    figures = view_across(no_gc, "lazy-list", False, "none")
    assert figures["perfprobe"].added_ns.median == pytest.approx(306_000)
    assert figures["perfprobe"].with_collector_ns is None
    assert (
        across_table("N+1", figures, False)
        .splitlines()[-1]
        .endswith("| 0.950 | 0.940 to 0.960 |")
    )


class _Ran(Exception):
    """Raised where a command would start its benchmarks."""


def _no_run() -> None:
    raise _Ran


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--launches", "0"], "--launches: expected a whole number from 1 to 50"),
        (["--launches", "2.5"], "--launches: expected a whole number from 1 to 50"),
        (["--launches", "51"], "--launches: expected a whole number from 1 to 50"),
        (["--views", "lazy,nosuch"], "--views: unknown view nosuch"),
        (["--views", ","], "--views: no view named"),
        (["--only", ","], "--only: no configuration named besides none"),
        (["--only", ""], "--only: no configuration named besides none"),
        (["--only", "none"], "--only: no configuration named besides none"),
        (["--launches"], "argument --launches: expected one argument"),
        (["--nosuch"], "unrecognized arguments: --nosuch"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One line on stderr, status 2, nothing written, before any work."""
    # An argument let through fails here, not by building bench/.venv and
    # running the benchmark.
    monkeypatch.setattr(cli, "ensure_env", _no_run)
    out = tmp_path / "out.json"
    assert main([*argv, "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message}")
    assert captured.err.count("\n") == 1
    assert captured.out == ""
    assert not out.exists()


def test_one_file_for_both_outputs_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--json over the --markdown just written: refused before the run."""
    monkeypatch.setattr(cli, "ensure_env", _no_run)
    out = tmp_path / "out.txt"
    same = tmp_path / "." / "out.txt"

    assert main(["--json", str(out), "--markdown", str(same)]) == 2
    assert capsys.readouterr().err == (
        f"error: --json and --markdown name the same file: {out}\n"
    )
    assert not out.exists()


def test_an_output_path_that_is_a_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found before the run, not when writing after it."""
    assert main(["--markdown", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path} is a directory, not a file to write\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--verdict-launches", "1"], "--verdict-launches: 0 (none) or 2 to 50"),
        (["--verdict-launches", "51"], "--verdict-launches: 0 (none) or 2 to 50"),
        (
            ["--verdict-launches", "x"],
            "argument --verdict-launches: invalid int value: 'x'",
        ),
        (["--nosuch"], "unrecognized arguments: --nosuch"),
        (["--results", "{tmp}/nosuch/RESULTS.md"], "--results: no such directory"),
        (["--results", "{tmp}"], "--results: {tmp} is a directory, not a file"),
    ],
)
def test_run_all_bad_arguments_are_one_line_and_status_2_before_any_run(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No usage block, and a results path that cannot be written is refused
    at once, not after the whole run (the results are written last)."""
    monkeypatch.setattr(run_all, "_set_import_path", _no_run)
    argv = [arg.format(tmp=tmp_path) for arg in argv]

    assert run_all.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message.format(tmp=tmp_path)}")
    assert captured.err.count("\n") == 1
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_run_all_good_arguments_go_on_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks refuse nothing that a run can write."""
    monkeypatch.setattr(run_all, "_set_import_path", _no_run)
    with pytest.raises(_Ran):
        run_all.main(["--verdict-launches", "0", "--results", str(tmp_path / "R.md")])


def test_run_all_verdict_rows_count_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each verdict run is one row: its verdict counts, PASS only on exit 0."""
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        views = command[command.index("--views") + 1]
        verdicts = [MET, NOT_SETTLED, MISSED, MISSED] if views == "lazy" else [MET]
        payload = {"verdicts": [{"verdict": v} for v in verdicts]}
        json_path = Path(command[command.index("--json") + 1])
        json_path.write_text(json.dumps(payload))
        Path(command[command.index("--markdown") + 1]).write_text(f"## {views}\n")
        return subprocess.CompletedProcess(command, 1 if views == "lazy" else 0)

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    rows, markdowns = run_all._verdict_benchmark(False, 5, tmp_path)
    assert [c[c.index("--launches") + 1] for c in commands] == ["5", "5"]
    assert all("--no-collector" in c and "--quick" not in c for c in commands)
    assert [c[c.index("--only") + 1] for c in commands] == [
        "perfprobe,nplusone,debug-toolbar",
        "perfprobe",
    ]
    assert [(r.benchmark, r.measured, r.passed) for r in rows] == [
        ("requests /lazy/, 5 launches", "1 MET, 1 NOT SETTLED, 2 MISSED", False),
        ("requests /json/, 5 launches", "1 MET", True),
    ]
    assert markdowns == ["## lazy\n", "## json\n"]


def _measurements(perfprobe_ns: float, gc_ns: int) -> Measurements:
    """One launch on /lazy/: one round pair, 6 ms a baseline request."""
    return Measurements(
        batch={"lazy-list": 10},
        per_request_ns={
            "lazy-list": {
                "none": [6_000_000.0, 6_000_000.0],
                "perfprobe": [perfprobe_ns, perfprobe_ns],
                "nplusone": [8_550_000.0, 8_550_000.0],
            }
        },
        proofs={
            "none": (True, "-"),
            "perfprobe": (True, "1 N+1"),
            "nplusone": (True, ""),
        },
        info={"none": {"django": "5.2"}},
        collector={
            "lazy-list": {
                name: {"requests": 100, "warmup": 25, "counts": [1, 0, 0], "ns": [ns]}
                for name, ns in (("none", 100_000), ("perfprobe", gc_ns))
            }
        },
    )


def test_render_launches_from_two_hand_made_launches() -> None:
    """5 then 6 µs a query, nplusone 10x then 8.3x: both NOT SETTLED.

    Launch 1: perfprobe 6,255 µs a request against 6,000 (255 µs, 5 µs a
    query, share 0.959); nplusone adds 2,550 µs, exactly 10x. Launch 2:
    perfprobe adds 306 µs (6 µs a query), 8.3x. Collector: baseline 1 µs a
    request; perfprobe 41.8 then 52 µs, so (255 + 41.8 - 1) / 51 = 5.8 and
    (306 + 52 - 1) / 51 = 7.0 µs a query with it.
    """
    views = [VIEWS_BY_NAME["lazy-list"]]
    launched = [
        Launched(data, cli._results(data, views), load, 10.0)
        for data, load in (
            (_measurements(6_255_000.0, 4_180_000), 0.5),
            (_measurements(6_306_000.0, 5_200_000), 1.25),
        )
    ]
    text, across = cli._render_launches(
        launched, views, [], "full", 20.0, QUICK_COLLECTOR
    )
    assert [t.verdict for t in across] == [NOT_SETTLED, MISSED, MET, NOT_SETTLED]
    lines = text.splitlines()
    assert lines[0] == "### Request benchmark, 2 launches: `/lazy/`"
    assert "1: load 0.50 at its start, 10 s, lazy-list x10; 2: load 1.25" in text
    assert (
        "| perfprobe | +5.0 / +6.0 | +5.5 | +5.0 to +6.0 | 0.959 / 0.951 | 0.955 "
        "| 0.951 to 0.959 | +6.4 (+5.8 to +7.0) |"
    ) in lines
    assert (
        "| N+1 view: perfprobe >= 10x cheaper than nplusone | 10.0x / 8.3x ✗ | "
        "9.2x | 8.3x to 10.0x | **NOT SETTLED** |"
    ) in lines
    assert "| none |" not in text
