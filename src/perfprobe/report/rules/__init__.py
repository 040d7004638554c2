"""Turn report data into recommendations: one small function per rule id.

A rule is ``rule(report_data, settings, time_scale) -> list[Recommendation]``
over the JSON-ready report dict, registered with ``@register_rule(rule_id)``.
Time thresholds are the configured seconds multiplied by ``time_scale``; a
value must be strictly over its threshold to fire.
"""

from __future__ import annotations

from .registry import (
    RULES,
    ReportData,
    Rule,
    register_rule,
    run_rules,
    sort_recommendations,
)

# Each rule module registers its rules on import, and RULES runs them in
# registration order, so these imports keep the order of the rule ids.
# isort: split
from . import latency, queries  # noqa: F401

# isort: split
from . import memory  # noqa: F401

# isort: split
from . import errors  # noqa: F401

__all__ = [
    "RULES",
    "ReportData",
    "Rule",
    "register_rule",
    "run_rules",
    "sort_recommendations",
]
