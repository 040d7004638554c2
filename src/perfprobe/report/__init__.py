"""Build, check and render perfprobe reports: plain data with ``to_dict()``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

# Each name is imported from its module when first asked for (PEP 562), not
# with the package. Python takes a module's import lock before importing its
# package: a thread importing one module of the package directly (through
# perfprobe.testing, say) while another imported the package, which imported
# its modules in turn, held one lock each and waited for the other's, and
# Python broke that deadlock by handing one thread a module half initialised.
_MODULE_OF = {
    "RULES": "rules",
    "SCHEMA_VERSION": "model",
    "Recommendation": "model",
    "Report": "model",
    "ReportBuilder": "builder",
    "ScenarioResult": "model",
    "load_schema": "schema",
    "register_rule": "rules",
    "validate_report": "schema",
}


def __getattr__(name: str) -> Any:
    """Return one of ``__all__``, imported from its module now."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
