"""Test the demo's scenario plug-in point: project, failing and settings scenarios."""

from __future__ import annotations

import inspect
import math
import os
import re
from typing import Any

import pytest

from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios import Scenario, register_scenario
from apps.debugging.setup import DemoSetupError
from apps.shop.models import Customer
from perfprobe.report.schema import validate_report
from tests.demo.cli import child_env, manage


class FailingScenario(Scenario):
    """A scenario whose job breaks half-way."""

    name = "test_failing"
    description = "Raises, to show the others still run."

    def run(self) -> dict[str, Any]:
        raise LookupError("the supplier feed is missing")


class SlicedFilterScenario(Scenario):
    """A scenario whose own line makes Django raise."""

    name = "test_sliced_filter"
    description = "Filters a sliced queryset, which Django refuses."

    def run(self) -> dict[str, Any]:
        return {"rows": list(Customer.objects.all()[:2].filter(name="x"))}


class NotJsonScenario(Scenario):
    """A scenario that returns what a report cannot hold."""

    name = "test_not_json"
    description = "Returns a set in its details."

    def run(self) -> dict[str, Any]:
        return {"ids": {1, 2}}


class CyclicDetailsScenario(Scenario):
    """A scenario whose details hold themselves."""

    name = "test_cyclic_details"
    description = "Returns a dict that contains itself."

    def run(self) -> dict[str, Any]:
        details: dict[str, Any] = {"rows": 3}
        details["again"] = details
        return details


class NothingReturnedScenario(Scenario):
    """A scenario whose run() returns nothing."""

    name = "test_nothing_returned"
    description = "Returns None."

    def run(self) -> Any:
        return None


class NightlyImportScenario(Scenario):
    """A project's own scenario: one timed query."""

    name = "test_nightly_import"
    description = "Counts customers, as a nightly import would first."

    def run(self) -> dict[str, Any]:
        with self.monitor.measure_execution_time("import.count_customers"):
            count = Customer.objects.count()
        return {"customers_seen": count}


class SettingsScenario(NightlyImportScenario):
    """The same scenario, named in PERFORMANCE_DEMO_SCENARIOS instead."""

    name = "test_from_settings"


@pytest.mark.django_db(transaction=True)
def test_failing_scenario_does_not_stop_the_next(scenario_cleanup):
    """A scenario that raises is reported failed and the next one still runs."""
    register_scenario(FailingScenario)
    scenario_cleanup.append(FailingScenario.name)

    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[FailingScenario.name, "database_operations"]
    )
    failed, database_ok = data["scenarios"]

    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "LookupError"
    assert "the supplier feed is missing" in failed["error"]["message"]
    assert database_ok["name"] == "database_operations"
    assert database_ok["status"] == "ok"
    assert database_ok["query_count"] == 12
    assert data["summary"]["scenarios_failed"] == 1
    assert {
        (c["source"], c["name"], c["error_type"]) for c in data["errors"]["counts"]
    } == {("scenario", FailingScenario.name, "LookupError")}
    validate_report(data)


@pytest.mark.django_db(transaction=True)
def test_a_failure_is_placed_at_the_scenarios_own_line(scenario_cleanup):
    """An error raised inside Django names the scenario's line, then Django's.

    In a user trial the message named only Django's line, by its absolute
    path in the virtualenv, and not the line of the scenario that called it.
    """
    register_scenario(SlicedFilterScenario)
    register_scenario(FailingScenario)
    scenario_cleanup += [SlicedFilterScenario.name, FailingScenario.name]
    run_line = inspect.getsourcelines(SlicedFilterScenario.run)[1] + 1
    raise_line = inspect.getsourcelines(FailingScenario.run)[1] + 1

    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[SlicedFilterScenario.name, FailingScenario.name]
    )
    sliced, failing = (s["error"]["message"] for s in data["scenarios"])

    here = "tests/demo/test_demo_plugins.py"
    assert sliced.startswith("Cannot filter a query once a slice has been taken.")
    assert re.search(
        rf" at {here}:{run_line} \(raised in django/db/models/query\.py:\d+\)$",
        sliced,
    ), sliced
    assert failing == f"the supplier feed is missing at {here}:{raise_line}"


@pytest.mark.django_db(transaction=True)
def test_details_that_are_not_json_fail_that_scenario_only(scenario_cleanup):
    """A set in the details fails its scenario; None is no details.

    In a user trial such a scenario stopped the whole command with a
    traceback while the report was built, after every scenario had run.
    """
    for cls in (NotJsonScenario, NothingReturnedScenario):
        register_scenario(cls)
        scenario_cleanup.append(cls.name)

    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[NotJsonScenario.name, NothingReturnedScenario.name]
    )
    not_json, nothing = data["scenarios"]

    assert not_json["status"] == "failed"
    assert not_json["details"] == {}
    assert not_json["error"] == {
        "type": "TypeError",
        "message": "test_not_json's run() returned details that are not JSON: "
        "set value {1, 2} is not JSON data",
    }
    assert (nothing["status"], nothing["details"]) == ("ok", {})
    validate_report(data)


@pytest.mark.django_db(transaction=True)
def test_details_that_hold_themselves_fail_that_scenario_only(scenario_cleanup):
    """A dict of details that contains itself fails its scenario, not the command.

    Its check recursed without end: the RecursionError left run_scenario and
    stopped the whole command, as non-JSON details once did.
    """
    for cls in (CyclicDetailsScenario, NothingReturnedScenario):
        register_scenario(cls)
        scenario_cleanup.append(cls.name)

    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[CyclicDetailsScenario.name, NothingReturnedScenario.name]
    )
    cyclic, nothing = data["scenarios"]

    assert cyclic["status"] == "failed"
    assert cyclic["details"] == {}
    assert cyclic["error"] == {
        "type": "TypeError",
        "message": "test_cyclic_details's run() returned details that are not "
        "JSON: they contain themselves (or nest too deep)",
    }
    assert (nothing["status"], nothing["details"]) == ("ok", {})
    validate_report(data)


@pytest.mark.django_db(transaction=True)
def test_project_scenario_runs_through_run_full_demo(scenario_cleanup):
    """A scenario a project registers runs by name, without editing the demo."""
    register_scenario(NightlyImportScenario)
    scenario_cleanup.append(NightlyImportScenario.name)

    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[NightlyImportScenario.name]
    )
    (scenario,) = data["scenarios"]

    assert scenario["status"] == "ok"
    assert scenario["details"] == {"customers_seen": Customer.objects.count()}
    assert scenario["query_count"] == 1
    assert "import.count_customers" in {op["name"] for op in data["operations"]}
    validate_report(data)


@pytest.mark.django_db(transaction=True)
def test_scenario_named_in_settings_is_registered_and_runs(settings, scenario_cleanup):
    """A Scenario subclass named in PERFORMANCE_DEMO_SCENARIOS joins the demo."""
    scenario_cleanup.append(SettingsScenario.name)
    settings.PERFORMANCE_DEMO_SCENARIOS = [f"{__name__}.SettingsScenario"]

    assert SettingsScenario.name in PerformanceDemo.available_scenarios()
    data = PerformanceDemo(time_scale=0.02).run_full_demo(
        scenarios=[SettingsScenario.name]
    )

    assert data["scenarios"][0]["status"] == "ok"


@pytest.mark.parametrize("value", ["tests.demo.broken_scenarios", 42, [3]])
def test_scenarios_setting_that_is_not_a_list_of_paths_is_one_clear_error(
    settings, value
):
    """A string, a number or a list of non-strings is refused as a whole."""
    settings.PERFORMANCE_DEMO_SCENARIOS = value

    with pytest.raises(DemoSetupError, match="must be a list of dotted paths"):
        PerformanceDemo.available_scenarios()


def test_scenarios_setting_naming_a_missing_module_says_so(settings):
    """A misspelt module is reported as the missing module it is."""
    settings.PERFORMANCE_DEMO_SCENARIOS = ["shop_scenarioz"]

    with pytest.raises(DemoSetupError, match=r"ModuleNotFoundError.*shop_scenarioz"):
        PerformanceDemo.available_scenarios()


def test_unknown_scenario_is_refused_before_anything_runs():
    """Asking for an unregistered scenario raises ValueError naming it."""
    demo = PerformanceDemo(time_scale=0.02)

    with pytest.raises(ValueError, match="no_such_scenario"):
        demo.run_full_demo(scenarios=["no_such_scenario"])
    assert demo.results == []


@pytest.mark.parametrize("scale", [0, -1, math.nan, math.inf, -math.inf])
def test_time_scale_must_be_finite_and_above_zero(scale):
    """A time scale that is not a finite number above 0 is refused up front."""
    with pytest.raises(ValueError, match="time_scale"):
        PerformanceDemo(time_scale=scale)


BOOM_SCENARIOS = '''
from apps.debugging.scenarios import Scenario, register_scenario


@register_scenario
class BoomScenario(Scenario):
    """Fail on purpose."""

    name = "boom"
    description = "Raises."
    order = 70

    def run(self):
        raise RuntimeError("the boom scenario broke")
'''


def test_a_failed_scenario_is_told_once_by_the_command(tmp_path) -> None:
    """On the progress line and in the report, not again on stderr.

    The scenario's warning went to Python's last-resort handler (the demo's
    logging gave its logger none), so each failure printed twice.
    """
    (tmp_path / "boom_scenarios.py").write_text(BOOM_SCENARIOS)
    (tmp_path / "boom_settings.py").write_text(
        "from demo_site.settings import *  # noqa: F403\n"
        'PERFORMANCE_DEMO_SCENARIOS = ["boom_scenarios"]\n'
    )
    env = child_env(tmp_path / "demo.sqlite3")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    env["DJANGO_SETTINGS_MODULE"] = "boom_settings"
    assert manage("migrate", "-v0", env=env).returncode == 0

    run = manage(
        "run_performance_demo", "--scenarios", "boom", "--time-scale", "0.01", env=env
    )

    assert "FAILED boom" in run.stdout
    assert "the boom scenario broke" in run.stdout
    assert "the boom scenario broke" not in run.stderr
