"""Test that the demo states its seed only when used, and refuses unusable options."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError

from apps.debugging.options import parse_scenarios, parse_time_scale
from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios.base import Scenario, registry

from .cli import run_manage

COMMAND = "run_performance_demo"


class _Quiet(Scenario):
    """Does no work: draws on neither the seed nor the database."""

    name = "seedless_probe"
    run_by_default = False

    def run(self) -> dict[str, Any]:
        return {}


class _Dice(Scenario):
    """Draws one number from the seeded generator."""

    name = "seeded_probe"
    run_by_default = False

    def run(self) -> dict[str, Any]:
        return {"roll": self.context.rng.randint(1, 6)}


@pytest.fixture
def probes() -> Iterator[None]:
    registry.register(_Quiet)
    registry.register(_Dice)
    try:
        yield
    finally:
        registry.unregister(_Quiet.name)
        registry.unregister(_Dice.name)


def _settings_seed(names: list[str]) -> Any:
    demo = PerformanceDemo(time_scale=0.02, seed=7)
    # Sample data made by the run would use the seed too: leave it out.
    demo.created_sample_data = False
    report = demo.run(names, prepared=True)
    return report.to_dict()["settings"]["seed"]


def test_a_run_that_never_drew_on_the_seed_does_not_state_it(probes: None) -> None:
    """Nothing random ran and no data was made: the report has no seed."""
    assert _settings_seed(["seedless_probe"]) is None


def test_a_run_that_drew_on_the_seed_states_it(probes: None) -> None:
    """One draw from the seeded generator is enough for the seed to be stated."""
    assert _settings_seed(["seedless_probe", "seeded_probe"]) == 7


def test_the_memory_job_states_the_seed_its_order_ids_came_from() -> None:
    """memory_intensive numbers its orders from the seed (use_seed())."""
    assert _settings_seed(["memory_intensive"]) == 7


@pytest.mark.parametrize(
    "value", ["a,,b", "database_operations,", ",database_operations", "a, ,b"]
)
def test_an_empty_scenario_name_is_refused(value: str) -> None:
    """A doubled, leading or trailing comma is an error naming the option."""
    with pytest.raises(CommandError) as caught:
        parse_scenarios(value, ["a", "b", "database_operations"])
    assert str(caught.value).startswith(f"--scenarios {value!r} has an empty name")


def test_an_unknown_scenario_is_told_the_likely_name_or_how_to_register() -> None:
    """A misspelt name gets a guess; a name like none says how to register one."""
    available = ["database_operations", "order_history"]
    with pytest.raises(CommandError) as misspelt:
        parse_scenarios("order_histroy", available)
    with pytest.raises(CommandError) as unregistered:
        parse_scenarios("nightly_import,order_histroy", available)

    assert str(misspelt.value) == (
        "--scenarios has unknown scenario(s) 'order_histroy' (did you mean "
        "order_history?); choose from database_operations, order_history."
    )
    assert str(unregistered.value) == (
        "--scenarios has unknown scenario(s) 'nightly_import', 'order_histroy' "
        "(did you mean order_history?); choose from database_operations, "
        "order_history; a scenario of your own is known once registered "
        "(PERFORMANCE_DEMO_SCENARIOS in the settings in use, or an entry point "
        "of the group perfprobe.scenarios)."
    )


def test_the_choices_say_which_scenarios_run_only_when_named() -> None:
    """load is listed apart from the five a run without --scenarios runs.

    In a user trial the error listed load among the defaults, with no hint
    that it runs only when asked for.
    """
    defaults = ["database_operations", "api_requests"]
    with pytest.raises(CommandError) as unknown:
        parse_scenarios("api_request", [*defaults, "load"], defaults)
    with pytest.raises(CommandError) as empty:
        parse_scenarios(",", [*defaults, "nightly", "load"], defaults)

    assert str(unknown.value) == (
        "--scenarios has unknown scenario(s) 'api_request' (did you mean "
        "api_requests?); choose from database_operations, api_requests; load "
        "only when named (or with --load)."
    )
    assert str(empty.value) == (
        "--scenarios is empty; choose from database_operations, api_requests; "
        "nightly, load only when named (load also with --load)."
    )


def test_the_command_names_load_apart_from_the_default_scenarios(
    tmp_path: Any,
) -> None:
    """From manage.py the built-in five are listed, then load only when named."""
    result = run_manage(tmp_path, COMMAND, "--scenarios", "nope")

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert (
        "choose from database_operations, api_requests, concurrent_operations, "
        "memory_intensive, error_scenarios; load only when named (or with "
        "--load)"
    ) in line


@pytest.mark.parametrize("value", ["1e-300", "0.0009", "5e-324"])
def test_a_time_scale_whose_sleeps_vanish_is_refused(value: str) -> None:
    """Under 0.001 a 50 ms nominal sleep is below 50 us: refused, saying why."""
    with pytest.raises(CommandError) as caught:
        parse_time_scale(value)
    message = str(caught.value)
    assert message.startswith(
        f"--time-scale must be a number from 0.001 to 10, not {value!r}"
    )
    assert "vanish" in message


def test_the_smallest_time_scale_is_accepted() -> None:
    """0.001 itself is the documented minimum."""
    assert parse_time_scale("0.001") == 0.001


def test_the_demo_class_refuses_a_vanishing_time_scale() -> None:
    """PerformanceDemo(time_scale=1e-300) fails at once, as the option does."""
    with pytest.raises(ValueError, match=r"from 0\.001 to 10"):
        PerformanceDemo(time_scale=1e-300)


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--time-scale", "1e-300"], "CommandError: --time-scale must be"),
        (
            ["--scenarios", "database_operations,,api_requests"],
            "CommandError: --scenarios",
        ),
    ],
)
def test_cli_refusals_are_one_line_with_status_2(
    tmp_path: Any, args: list[str], start: str
) -> None:
    """The command prints one stderr line, no traceback, and exits with 2."""
    result = run_manage(tmp_path, COMMAND, *args)

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(start)
    assert result.stdout == ""


def test_a_scenario_name_in_other_case_gets_its_guess() -> None:
    """ORDER_HISTORY means order_history, as --TOLERANCE means --tolerance.

    The guess was case-sensitive: an upper-case name got none, and was told
    it was perhaps a scenario of one's own never registered.
    """
    available = ["database_operations", "order_history"]
    with pytest.raises(CommandError) as caught:
        parse_scenarios("ORDER_HISTORY", available)

    assert str(caught.value) == (
        "--scenarios has unknown scenario(s) 'ORDER_HISTORY' (did you mean "
        "order_history?); choose from database_operations, order_history."
    )
