"""Build a ``Report`` from a collector snapshot: sections, settings, findings."""

from __future__ import annotations

import logging
import os
import platform
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import django

from ..aggregates import CollectorSnapshot
from ..conf import PerfprobeSettings, get_settings
from ..sampling import EXCLUDED, NOT_SAMPLED, UNMONITORED_VIEW
from ..stats import SKETCH_RELATIVE_ACCURACY
from .findings import findings_section
from .fmt import BYTES_PER_MB
from .model import SEVERITIES, Report, ScenarioResult
from .rules import run_rules
from .sections import (
    endpoints_section,
    errors_section,
    memory_section,
    operations_section,
    queries_section,
    scope_dict,
)

logger = logging.getLogger("perfprobe.report")


def percentile_note(exact_limit: int) -> str:
    """Return the sentence that says how the report's percentiles were computed."""
    return (
        "Percentiles use inclusive linear interpolation (numpy's 'linear', "
        "statistics.quantiles(method='inclusive')); they are exact up to "
        f"{exact_limit} samples per metric and estimated beyond that by a "
        f"DDSketch with {SKETCH_RELATIVE_ACCURACY:.0%} relative accuracy."
    )


def sampling_note(conf: PerfprobeSettings, skipped: dict[str, int]) -> str:
    """Return the sentence that says which requests the figures cover."""
    if not (conf.ENABLED and conf.MONITOR_REQUESTS):
        return "Requests are not monitored (MONITOR_REQUESTS or ENABLED is off)."
    rate = conf.SAMPLE_RATE
    if rate >= 1:
        note = "Every request is monitored (sample rate 1)"
    else:
        note = (
            f"Requests are sampled at rate {rate:g}: request, query and "
            "operation figures cover only the sampled requests"
        )
    left_out = [
        f"{count} {label}"
        for label, count in (
            ("not sampled", skipped.get(NOT_SAMPLED, 0)),
            ("under EXCLUDE_PATHS", skipped.get(EXCLUDED, 0)),
            (
                "to views marked unmonitored (perfprobe's own pages are)",
                skipped.get(UNMONITORED_VIEW, 0),
            ),
        )
        if count
    ]
    if left_out and rate >= 1:
        # "Every request is monitored" followed by requests left out read as
        # a contradiction; perfprobe's own pages are among those views.
        note = "Every request is monitored (sample rate 1) but those left out"
        note += f": {', '.join(left_out)}"
    elif left_out:
        note += f"; requests left out: {', '.join(left_out)}"
    return note + "."


class ReportBuilder:
    """Assemble a ``Report`` from a ``CollectorSnapshot`` and scenario results.

    ``settings`` defaults to ``perfprobe.conf.get_settings()``. The time
    thresholds are multiplied by the snapshot's ``time_scale``; the report
    states the scale and, through ``latency_note``, how latencies were
    produced. ``database_vendor`` defaults to the vendor the recorded
    queries name.
    """

    def __init__(
        self,
        snapshot: CollectorSnapshot,
        *,
        scenarios: list[ScenarioResult] | None = None,
        settings: PerfprobeSettings | None = None,
        title: str = "perfprobe report",
        latency_note: str | None = None,
        database_vendor: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(title, str):
            # Kept, it would make a JSON report its own reader refuses.
            raise TypeError(
                f"generate_report() needs a str title, not {type(title).__name__}"
            )
        self.snapshot = snapshot
        self.scenarios = list(scenarios or [])
        self.settings = settings if settings is not None else get_settings()
        self.title = title
        self.latency_note = latency_note
        self.database_vendor = database_vendor
        self.seed = seed

    @property
    def time_scale(self) -> float:
        """Return the factor the time thresholds are multiplied by."""
        return self.snapshot.time_scale

    def build(self) -> Report:
        """Return the report, with recommendations ranked by severity then payoff."""
        report = Report(
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            title=self.title,
            environment=self.environment(),
            settings=self.settings_section(),
            summary={},
            operations=operations_section(
                self.snapshot, self.settings.SLOW_QUERY_SECONDS * self.time_scale
            ),
            queries=queries_section(
                self.snapshot, self.settings.SLOW_QUERY_SECONDS * self.time_scale
            ),
            n_plus_one=findings_section(self.snapshot, "n_plus_one"),
            duplicates=findings_section(self.snapshot, "duplicates"),
            endpoints=endpoints_section(self.snapshot),
            memory=memory_section(self.snapshot),
            errors=errors_section(self.snapshot),
            scopes=[scope_dict(s) for s in self.snapshot.scopes],
            dropped_metrics=self.snapshot.dropped_metrics,
            scenarios=self.scenarios,
        )
        report.recommendations = run_rules(
            report.to_dict(), self.settings, self.time_scale
        )
        report.summary = self.summary_section(report)
        return report

    def environment(self) -> dict[str, Any]:
        """Return the versions, platform, database vendor and process id."""
        # Imported here: the package sets __version__ after importing the
        # monitor, which itself imports this module lazily.
        from .. import __version__

        vendors = sorted({str(q["vendor"]) for q in self.snapshot.queries.values()})
        vendor = self.database_vendor
        if vendor is None and vendors:
            vendor = ",".join(vendors)
        return {
            "python": platform.python_version(),
            "django": django.get_version(),
            "perfprobe": __version__,
            "platform": platform.platform(),
            "database_vendor": vendor,
            "database_vendors": vendors,
            "pid": os.getpid(),
        }

    def settings_section(self) -> dict[str, Any]:
        """Return the thresholds as configured and as applied after scaling."""
        conf = self.settings
        scale = self.time_scale
        configured = {
            "slow_operation_s": conf.SLOW_OPERATION_SECONDS,
            "slow_query_s": conf.SLOW_QUERY_SECONDS,
            "high_memory_bytes": int(conf.HIGH_MEMORY_MB * BYTES_PER_MB),
            "n_plus_one_min_queries": conf.N_PLUS_ONE_MIN_QUERIES,
            "duplicate_min_queries": conf.DUPLICATE_MIN_QUERIES,
        }
        effective = dict(configured)
        effective["slow_operation_s"] = conf.SLOW_OPERATION_SECONDS * scale
        effective["slow_query_s"] = conf.SLOW_QUERY_SECONDS * scale
        return {
            "thresholds": configured,
            "time_scale": scale,
            "effective_thresholds": effective,
            "threshold_note": (
                f"Time thresholds were multiplied by the time scale ({scale:g}); "
                "memory and count thresholds are not scaled."
                if scale != 1
                else "Thresholds are as configured (time scale 1)."
            ),
            "latency_note": self.latency_note,
            "seed": self.seed,
            "exact_percentile_limit": conf.EXACT_PERCENTILE_LIMIT,
            "percentile_note": percentile_note(conf.EXACT_PERCENTILE_LIMIT),
            "sampling": self.sampling(),
            "sampling_note": sampling_note(conf, self.snapshot.skipped_requests),
        }

    def sampling(self) -> dict[str, Any]:
        """Return the request sample rate in effect and the requests left out."""
        conf = self.settings
        skipped = self.snapshot.skipped_requests
        return {
            "monitor_requests": conf.ENABLED and conf.MONITOR_REQUESTS,
            "sample_rate": conf.SAMPLE_RATE,
            "requests_not_sampled": skipped.get(NOT_SAMPLED, 0),
            "requests_excluded": skipped.get(EXCLUDED, 0),
            "requests_unmonitored_views": skipped.get(UNMONITORED_VIEW, 0),
        }

    def summary_section(self, report: Report) -> dict[str, Any]:
        """Return the headline counts and times (seconds) of ``report``."""
        query_total = report.queries["total"]
        severities = Counter(r.severity for r in report.recommendations)
        return {
            "operations": sum(o["stats"]["count"] for o in report.operations),
            "operation_names": len(report.operations),
            "queries": query_total["count"] if query_total else 0,
            "query_time_s": query_total["total"] if query_total else 0.0,
            "slow_queries": report.queries["slow_query_count"],
            "queries_outside_scopes": report.queries["outside_scopes_count"],
            "requests": sum(e["count"] for e in report.endpoints),
            "errors": report.errors["total"],
            "scenarios": len(report.scenarios),
            "scenarios_failed": sum(
                1 for s in report.scenarios if s.status == "failed"
            ),
            "n_plus_one": len(report.n_plus_one["aggregated"]),
            "duplicates": len(report.duplicates["aggregated"]),
            "recommendations": {s: severities.get(s, 0) for s in SEVERITIES},
        }
