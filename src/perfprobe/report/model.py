"""Define the report as plain data: the report, its scenarios and findings."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..events import error_type_name
from .jsonio import (
    dumps_strict,
    finite_json,
    finite_json_or_raise,
    write_json_atomic,
    write_text_atomic,
)

if TYPE_CHECKING:
    from ..aggregates import ScopeSummary
    from .tables import Section

SCHEMA_VERSION = "1.0"
SEVERITIES = ("critical", "warning", "info")
SCENARIO_STATUSES = ("ok", "failed")


def _require_finite(owner: str, name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{owner}.{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, not {value!r}")


def _require_json(owner: str, name: str, value: Any) -> None:
    # Checked at construction so a bad value fails where it was produced,
    # not later inside the report builder or a renderer.
    try:
        finite_json(value)
    except TypeError as exc:
        raise ValueError(f"{owner}.{name} must be JSON data: {exc}") from None


@dataclass
class Recommendation:
    """One finding of a rule: what was seen, how sure, and what to change.

    ``evidence`` holds the numbers behind the finding (seconds, bytes,
    counts), the query fingerprint, the call site ``path:line`` and the
    scope. ``impact_s`` is the time the finding accounts for, in seconds, and
    ``saving_s`` the part of it a fix would save by perfprobe's estimate (0
    where it cannot say); see ``rules.sort_recommendations`` for the order.
    Raise ``ValueError`` for an unknown severity, a multi-line title, a
    negative ``saving_s`` or evidence that is not JSON data.
    """

    rule_id: str
    severity: str
    title: str
    evidence: dict[str, Any]
    suggestion: str
    impact_s: float = 0.0
    saving_s: float = 0.0

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        if "\n" in self.title:
            raise ValueError("a recommendation title must be one line")
        _require_finite("Recommendation", "impact_s", self.impact_s)
        _require_finite("Recommendation", "saving_s", self.saving_s)
        if self.saving_s < 0:
            raise ValueError(
                f"Recommendation.saving_s must be 0 or more, not {self.saving_s!r}"
            )
        _require_json("Recommendation", "evidence", self.evidence)

    def to_dict(self) -> dict[str, Any]:
        """Return the recommendation as JSON-ready data."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "title": self.title,
            "evidence": finite_json_or_raise(self.evidence),
            "suggestion": self.suggestion,
            "impact_s": self.impact_s,
            "saving_s": self.saving_s,
        }


@dataclass
class ScenarioResult:
    """What one demo (or user) scenario did; times in seconds.

    ``scope`` is the path of the scope the scenario ran in,
    ``nominal_latencies_s`` the documented latencies it injected before
    scaling, ``details`` scenario-specific JSON data, and ``error`` a
    ``{"type", "message"}`` dict when the scenario failed. Raise
    ``ValueError`` for an unknown status, a non-finite time or details that
    are not JSON data.
    """

    name: str
    description: str
    status: str
    duration_s: float
    started_at: float
    scope: str | None = None
    query_count: int = 0
    query_time_s: float = 0.0
    nominal_latencies_s: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.status not in SCENARIO_STATUSES:
            raise ValueError(
                f"scenario status {self.status!r} is not one of "
                f"{', '.join(SCENARIO_STATUSES)}"
            )
        for name in ("duration_s", "started_at", "query_time_s"):
            _require_finite("ScenarioResult", name, getattr(self, name))
        for key, value in self.nominal_latencies_s.items():
            _require_finite("ScenarioResult", f"nominal_latencies_s[{key!r}]", value)
        _require_json("ScenarioResult", "details", self.details)

    @staticmethod
    def error_info(exc: BaseException) -> dict[str, str]:
        """Return the ``{"type", "message"}`` dict that describes ``exc``."""
        return {
            "type": error_type_name(type(exc)) or "Exception",
            "message": str(exc),
        }

    @classmethod
    def from_scope(
        cls,
        summary: ScopeSummary,
        *,
        description: str = "",
        error: BaseException | None = None,
        nominal_latencies_s: dict[str, float] | None = None,
        details: dict[str, Any] | None = None,
    ) -> ScenarioResult:
        """Build a result from the scope the scenario ran in; failed if ``error``."""
        return cls(
            name=summary.name,
            description=description,
            status="ok" if error is None else "failed",
            duration_s=summary.duration_s,
            started_at=summary.started_at,
            scope=summary.path,
            query_count=summary.query_count,
            query_time_s=summary.query_time_s,
            nominal_latencies_s=dict(nominal_latencies_s or {}),
            details=dict(details or {}),
            error=None if error is None else cls.error_info(error),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data; non-finite details become null."""
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "scope": self.scope,
            "query_count": self.query_count,
            "query_time_s": self.query_time_s,
            "nominal_latencies_s": dict(self.nominal_latencies_s),
            "details": finite_json_or_raise(self.details),
            "error": dict(self.error) if self.error is not None else None,
        }


@dataclass
class Report:
    """Everything perfprobe learnt, as plain data ready for any renderer.

    Times are in seconds and sizes in bytes throughout. Sections other than
    ``scenarios`` and ``recommendations`` are already JSON-ready dicts and
    lists; the JSON Schema shipped as ``perfprobe/schema/report.schema.json``
    specifies every one of them. ``runs`` holds the figures of each run of a
    repeated measurement (see ``perfprobe.compare.run_record``), the last
    one being the run the rest of the report describes; it is left out of
    ``to_dict()`` when ``None``.
    """

    generated_at: str
    title: str
    environment: dict[str, Any]
    settings: dict[str, Any]
    summary: dict[str, Any]
    operations: list[dict[str, Any]]
    queries: dict[str, Any]
    n_plus_one: dict[str, Any]
    duplicates: dict[str, Any]
    endpoints: list[dict[str, Any]]
    memory: dict[str, Any]
    errors: dict[str, Any]
    scopes: list[dict[str, Any]]
    dropped_metrics: int
    scenarios: list[ScenarioResult] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION
    runs: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-ready data (finite numbers only)."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "generated_at": self.generated_at,
            "title": self.title,
            "environment": self.environment,
            "settings": self.settings,
            "summary": self.summary,
            "scenarios": [s.to_dict() for s in self.scenarios],
            "operations": self.operations,
            "queries": self.queries,
            "n_plus_one": self.n_plus_one,
            "duplicates": self.duplicates,
            "endpoints": self.endpoints,
            "memory": self.memory,
            "errors": self.errors,
            "scopes": self.scopes,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "dropped_metrics": self.dropped_metrics,
        }
        if self.runs is not None:
            data["runs"] = self.runs
        result: dict[str, Any] = finite_json_or_raise(data)
        return result

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the report as strict JSON text; raise ``ValueError`` if it is not."""
        return dumps_strict(self.to_dict(), indent=indent)

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the report to ``path`` atomically and return the path.

        Raise ``ValueError`` when the report holds data JSON cannot represent
        and ``OSError`` naming the path when it cannot be written; in both
        cases an existing file at ``path`` is left as it was.
        """
        return write_json_atomic(path, self.to_dict())

    def write_html(
        self,
        path: str | os.PathLike[str],
        *,
        charts: bool | None = None,
        sections: Sequence[Section] = (),
    ) -> Path:
        """Write the report as one self-contained HTML page, atomically.

        ``charts`` and ``sections`` are as for
        ``perfprobe.report.html.render_html``: ``charts`` True requires
        matplotlib and raises ``ImportError`` without it; ``sections`` are
        extra tables shown after the report's own. Raise ``OSError`` naming
        the path when it cannot be written; an existing file at ``path`` is
        then left as it was.
        """
        from .html import render_html

        page = render_html(self, charts=charts, sections=sections)
        return write_text_atomic(path, page)

    def recommendations_by_rule(self, rule_id: str) -> list[Recommendation]:
        """Return the recommendations that rule ``rule_id`` made."""
        return [r for r in self.recommendations if r.rule_id == rule_id]
