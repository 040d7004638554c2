"""Build, check and render perfprobe reports: plain data with ``to_dict()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazynames import lazy_names

if TYPE_CHECKING:
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

# Each name is imported from its module when first asked for, not with the
# package: see perfprobe.lazynames (a report built in one thread while
# another imported perfprobe.testing failed nearly every time).
__getattr__ = lazy_names(
    __name__,
    {
        "RULES": "rules",
        "SCHEMA_VERSION": "model",
        "Recommendation": "model",
        "Report": "model",
        "ReportBuilder": "builder",
        "ScenarioResult": "model",
        "load_schema": "schema",
        "register_rule": "rules",
        "validate_report": "schema",
    },
)
