"""Tests for scenarios registered by setting and by entry point."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios import Scenario, registry
from perfprobe.report.schema import validate_report

COMMAND = "run_performance_demo"
PLUGIN_MODULE = "perfprobe_fake_plugin_scenarios"

PLUGIN_SOURCE = """
from apps.debugging.scenarios import Scenario, register_scenario
from apps.shop.models import Product


class PluginScenario(Scenario):
    name = "plugin_count"
    description = "Count products, from a scenario an entry point names."

    def run(self):
        with self.monitor.measure_execution_time("plugin.count_products"):
            return {"products": Product.objects.count()}


@register_scenario
class DecoratedPluginScenario(Scenario):
    name = "plugin_decorated"
    description = "Registered by the import of its module."

    def run(self):
        return {"registered_by": "import"}


NOT_A_SCENARIO = 42
"""


class SettingsProbeScenario(Scenario):
    """Count products; registered through PERFORMANCE_DEMO_SCENARIOS."""

    name = "settings_probe"
    description = "A scenario that a setting names."

    def run(self) -> dict[str, Any]:
        """Time one query and return what it found."""
        from apps.shop.models import Product

        with self.monitor.measure_execution_time("settings_probe.count"):
            return {"products": Product.objects.count()}


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Yield a function that installs a fake distribution with entry points.

    The distribution is a ``.dist-info`` folder on ``sys.path``, as pip
    would leave it; its module and the scenarios it registers are removed
    afterwards.
    """

    def install(*entry_points: str) -> None:
        (tmp_path / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
        info = tmp_path / "perfprobe_fake_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: perfprobe-fake-plugin\nVersion: 1.0\n"
        )
        lines = "\n".join(entry_points)
        (info / "entry_points.txt").write_text(f"[perfprobe.scenarios]\n{lines}\n")
        monkeypatch.syspath_prepend(str(tmp_path))

    yield install
    for name in ("plugin_count", "plugin_decorated", "settings_probe"):
        registry.unregister(name)
    sys.modules.pop(PLUGIN_MODULE, None)


@pytest.mark.django_db(transaction=True)
def test_entry_point_scenario_runs_and_is_reported(install_plugin, tmp_path):
    """A Scenario class named by an entry point runs by name and shows up."""
    install_plugin(f"plugin_count = {PLUGIN_MODULE}:PluginScenario")
    target = tmp_path / "report.json"
    stdout = StringIO()

    call_command(
        COMMAND,
        "--scenarios",
        "plugin_count",
        "--time-scale",
        "0.02",
        "--output-file",
        str(target),
        stdout=stdout,
    )

    report = json.loads(target.read_text())
    validate_report(report)
    (scenario,) = report["scenarios"]
    assert scenario["name"] == "plugin_count"
    assert scenario["status"] == "ok"
    assert scenario["details"]["products"] > 0
    assert "plugin.count_products" in [o["name"] for o in report["operations"]]
    assert "plugin_count" in stdout.getvalue()


@pytest.mark.django_db(transaction=True)
def test_entry_point_naming_a_module_registers_its_scenarios(install_plugin):
    """An entry point may name a module whose import registers scenarios."""
    install_plugin(f"plugin = {PLUGIN_MODULE}")

    assert "plugin_decorated" in PerformanceDemo.available_scenarios()
    # Only the decorated class: the module's other class is not registered.
    assert "plugin_count" not in PerformanceDemo.available_scenarios()
    report = PerformanceDemo(time_scale=0.02).run_full_demo(["plugin_decorated"])
    assert report["scenarios"][0]["details"] == {"registered_by": "import"}


def test_entry_point_scenario_joins_the_default_run(install_plugin):
    """A plugin's scenario joins the default run, as a project's own would."""
    install_plugin(f"plugin_count = {PLUGIN_MODULE}:PluginScenario")

    assert PerformanceDemo.default_scenarios()[-1] == "plugin_count"


@pytest.mark.parametrize(
    ("entry_point", "fragments"),
    [
        (
            "gone = perfprobe_no_such_plugin_module:Gone",
            ["gone = perfprobe_no_such_plugin_module:Gone", "ModuleNotFoundError"],
        ),
        (
            f"missing = {PLUGIN_MODULE}:NoSuchClass",
            [f"{PLUGIN_MODULE}:NoSuchClass", "AttributeError"],
        ),
        (
            f"number = {PLUGIN_MODULE}:NOT_A_SCENARIO",
            ["NOT_A_SCENARIO", "neither a module nor a Scenario subclass"],
        ),
    ],
)
def test_broken_entry_point_is_one_clear_error(install_plugin, entry_point, fragments):
    """A bad entry point stops the command with one line naming it and why."""
    install_plugin(entry_point)

    with pytest.raises(CommandError) as caught:
        call_command(COMMAND, "--time-scale", "0.02", stdout=StringIO())

    message = str(caught.value)
    for fragment in [*fragments, "perfprobe.scenarios", "perfprobe-fake-plugin"]:
        assert fragment in message
    assert "\n" not in message


def test_entry_point_taking_a_built_in_name_is_refused(install_plugin, monkeypatch):
    """A plugin scenario may not replace a built-in one of the same name."""
    install_plugin(f"plugin_count = {PLUGIN_MODULE}:PluginScenario")
    __import__(PLUGIN_MODULE)
    monkeypatch.setattr(sys.modules[PLUGIN_MODULE].PluginScenario, "name", "load")

    with pytest.raises(CommandError, match="'load' is already registered"):
        call_command(COMMAND, "--time-scale", "0.02", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_setting_scenario_runs_through_the_command(install_plugin, settings, tmp_path):
    """A Scenario named in PERFORMANCE_DEMO_SCENARIOS runs via --scenarios."""
    settings.PERFORMANCE_DEMO_SCENARIOS = [f"{__name__}.SettingsProbeScenario"]
    target = tmp_path / "report.json"

    call_command(
        COMMAND,
        "--scenarios",
        "settings_probe",
        "--time-scale",
        "0.02",
        "--output-file",
        str(target),
        stdout=StringIO(),
    )

    report = json.loads(target.read_text())
    assert [s["name"] for s in report["scenarios"]] == ["settings_probe"]
    assert report["scenarios"][0]["status"] == "ok"
    assert "settings_probe.count" in [o["name"] for o in report["operations"]]
