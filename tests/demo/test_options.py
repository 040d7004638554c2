"""Tests for reading the demo command's options (apps/debugging/options.py).

Options go through the command's real parser, so each test sees the values
exactly as ``manage.py run_performance_demo`` would; the expected values are
the defaults and names the command's help and the README document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from apps.debugging.management.commands.run_performance_demo import Command
from apps.debugging.options import DemoOptions, read_options
from tests.perfprobe.compare_factories import report, run, write

BUILT_IN = [
    "database_operations",
    "api_requests",
    "concurrent_operations",
    "memory_intensive",
    "error_scenarios",
]


def parsed(*args: str) -> dict[str, Any]:
    """Return ``args`` parsed by the command's own parser, as ``handle`` gets them."""
    parser = Command().create_parser("manage.py", "run_performance_demo")
    return vars(parser.parse_args(list(args)))


def read(*args: str) -> DemoOptions:
    """Return the checked options of a command line."""
    return read_options(parsed(*args))


def test_no_options_reads_the_documented_defaults(nothing_may_run: list[str]) -> None:
    """Without options: the five built-in scenarios once, scale 1, seed 42."""
    options = read()

    assert options.names == BUILT_IN
    assert options.time_scale == 1.0
    assert options.seed == 42
    assert options.repeat == 1
    assert options.verbose is False
    assert options.load is None
    assert options.output is None
    assert options.html_output is None
    assert options.html_option == "--html"
    assert options.tolerance == pytest.approx(0.10)
    assert options.fail_on == frozenset()
    assert options.baseline is None
    assert nothing_may_run == []


def test_a_load_option_alone_runs_only_the_load_test() -> None:
    """--clients implies --load; the other load figures keep their defaults."""
    options = read("--clients", "8")

    assert options.names == ["load"]
    assert options.load is not None
    assert options.load.clients == 8
    assert options.load.requests == 100
    assert options.load.time_limit_s == 300


def test_load_runs_after_the_scenarios_named() -> None:
    """--load with --scenarios adds the load test at the end, once."""
    assert read("--scenarios", "api_requests", "--load").names == [
        "api_requests",
        "load",
    ]
    assert read("--scenarios", "load,api_requests", "--load").names == [
        "load",
        "api_requests",
    ]


def test_html_alias_is_remembered_for_messages(tmp_path: Path) -> None:
    """A path given as --html-file keeps that option name for its messages."""
    target = tmp_path / "report.html"

    options = read("--html-file", str(target))

    assert options.html_option == "--html-file"
    assert options.html_output == target


def test_tolerance_and_baseline_are_read_together(tmp_path: Path) -> None:
    """--tolerance 2.5% with a saved report is a fraction of 0.025."""
    saved = write(tmp_path / "old.json", report(run(scenarios={"x": (1.0, 3)})))

    options = read("--baseline", saved, "--tolerance", "2.5%", "--fail-on", "critical")

    assert options.tolerance == pytest.approx(0.025)
    assert options.fail_on == frozenset({"critical"})
    assert options.baseline is not None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--seed", "-1", "--time-scale", "0"], "--time-scale"),
        (["--output-file", "", "--seed", "-1"], "--seed"),
        (["--repeat", "0", "--html", ""], "--html"),
        (["--tolerance", "x", "--repeat", "0"], "--repeat"),
        (["--fail-on", "bogus", "--tolerance", "x"], "--tolerance"),
    ],
)
def test_of_several_bad_options_the_earliest_checked_is_named(
    args: list[str], named: str, nothing_may_run: list[str]
) -> None:
    """Scenarios, time scale, seed, files, repeat, tolerance, fail-on: that order."""
    with pytest.raises(CommandError) as caught:
        read(*args)

    assert str(caught.value).startswith(named)
    assert nothing_may_run == []
