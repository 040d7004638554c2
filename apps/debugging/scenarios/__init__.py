"""The demo's built-in scenarios, registered in the order they run."""

from __future__ import annotations

from .api import ApiRequestsScenario
from .base import DemoContext, Scenario, ScenarioRegistry, register_scenario, registry
from .concurrency import ConcurrentOperationsScenario
from .database import DatabaseOperationsScenario
from .errors import ErrorScenariosScenario
from .load import LoadScenario
from .memory import MemoryIntensiveScenario

__all__ = [
    "ApiRequestsScenario",
    "ConcurrentOperationsScenario",
    "DatabaseOperationsScenario",
    "DemoContext",
    "ErrorScenariosScenario",
    "LoadScenario",
    "MemoryIntensiveScenario",
    "Scenario",
    "ScenarioRegistry",
    "register_scenario",
    "registry",
]
