"""Register report rules by id and run them into sorted recommendations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ...conf import PerfprobeSettings
from ...failures import log_failure
from ..model import SEVERITIES, Recommendation

logger = logging.getLogger("perfprobe.report")

ReportData = Mapping[str, Any]
Rule = Callable[[ReportData, PerfprobeSettings, float], list[Recommendation]]

#: Every registered rule by its stable id, run in registration order.
RULES: dict[str, Rule] = {}

# How sure a fix's payoff is, surest first. An N+1 or a repeated query has a
# known cure whose saving is the queries it removes; a slow query may or may
# not have an index to gain; a slow endpoint or operation with no query to
# blame needs profiling first; memory and error findings save no time.
PAYOFF_TIERS = {
    "n-plus-one": 0,
    "duplicate-queries": 0,
    "slow-query": 1,
    "slow-endpoint": 2,
    "slow-operation": 2,
}
_OTHER_TIER = 3


def register_rule(rule_id: str) -> Callable[[Rule], Rule]:
    """Register the decorated function as the rule ``rule_id``.

    Raise ``ValueError`` if another function already holds the id.
    """

    def decorator(func: Rule) -> Rule:
        existing = RULES.get(rule_id)
        if existing is not None and existing is not func:
            raise ValueError(f"a rule with id {rule_id!r} is already registered")
        RULES[rule_id] = func
        return func

    return decorator


def sort_recommendations(found: list[Recommendation]) -> list[Recommendation]:
    """Return ``found`` ordered by expected payoff within each severity.

    Critical findings come first. Within a severity, fixes whose saving is
    surest come first (``PAYOFF_TIERS``: N+1 and duplicate queries, then slow
    queries, then slow endpoints and operations, then the rest), each tier by
    the time a fix would save, then by the time the finding accounts for.
    """
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    return sorted(
        found,
        key=lambda r: (
            rank[r.severity],
            PAYOFF_TIERS.get(r.rule_id, _OTHER_TIER),
            -r.saving_s,
            -r.impact_s,
            r.rule_id,
        ),
    )


def run_rules(
    report_data: ReportData,
    settings: PerfprobeSettings,
    time_scale: float,
    rules: Mapping[str, Rule] | None = None,
) -> list[Recommendation]:
    """Run every rule (``RULES`` by default) and return their sorted findings.

    A rule that raises is logged and skipped, so one faulty rule cannot cost
    the whole report.
    """
    found: list[Recommendation] = []
    for rule_id, rule in (RULES if rules is None else rules).items():
        try:
            found.extend(rule(report_data, settings, time_scale))
        except Exception:
            log_failure(logger, f"rule {rule_id}", "perfprobe rule %s failed", rule_id)
    return sort_recommendations(found)
