"""Build, check and render perfprobe reports: plain data with ``to_dict()``."""

from __future__ import annotations

from .builder import ReportBuilder
from .model import SCHEMA_VERSION, Recommendation, Report, ScenarioResult
from .rules import RULES, register_rule
from .schema import load_schema, validate_report

__all__ = [
    "RULES",
    "SCHEMA_VERSION",
    "Recommendation",
    "Report",
    "ReportBuilder",
    "ScenarioResult",
    "load_schema",
    "register_rule",
    "validate_report",
]
