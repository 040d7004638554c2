"""Flag every group of recorded errors, with where it was raised."""

from __future__ import annotations

from typing import Any

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import format_duration, plural, shorten
from ..model import Recommendation
from .registry import ReportData, register_rule
from .window import ran_queries


@register_rule("errors")
def errors(
    data: ReportData, settings: PerfprobeSettings, time_scale: float
) -> list[Recommendation]:
    """Flag every error group; request and query errors are critical."""
    sites = {
        q["fingerprint"]: q["call_sites"][0]["call_site"]
        for q in data["queries"]["by_fingerprint"]
        if q["call_sites"]
    }
    # The latest error of each group says where user code raised it, and
    # how long a failed query ran before it was stopped.
    latest = {
        (e["source"], e["name"], e["error_type"]): e for e in data["errors"]["recent"]
    }
    found = []
    for group in data["errors"]["counts"]:
        source, name, error_type = group["source"], group["name"], group["error_type"]
        event = latest.get((source, name, error_type)) or {}
        if source == "query":
            found.append(_query_error(group, sites.get(name), event))
            continue
        call_site = event.get("raised_at")
        evidence = {
            "source": source,
            "name": name,
            "error_type": error_type,
            "count": group["count"],
        }
        if call_site:
            evidence["raised_at"] = call_site
        found.append(
            Recommendation(
                rule_id="errors",
                severity="critical" if source == "request" else "warning",
                title=(
                    f"{source.capitalize()} {shorten(name, 60)} failed "
                    f"{plural(group['count'], 'time')} with {error_type}"
                ),
                evidence=evidence,
                suggestion=advice.error(
                    source,
                    name,
                    error_type,
                    call_site,
                    ran_queries(
                        data,
                        event.get("scope"),
                        event.get("started_at"),
                        event.get("duration_s"),
                    ),
                ),
            )
        )
    return found


def _query_error(
    group: dict[str, Any], call_site: str | None, latest: dict[str, Any]
) -> Recommendation:
    """Return the critical finding for one group of failed queries.

    The title leads with the call site and how long the latest failed run
    took: a query stopped after seconds reads differently from one refused
    at once.
    """
    fingerprint, error_type = group["name"], group["error_type"]
    duration_s = latest.get("duration_s")
    where = f" at {call_site}" if call_site else ""
    after = f" after {format_duration(duration_s)}" if duration_s else ""
    evidence: dict[str, Any] = {
        "source": "query",
        "name": fingerprint,
        "fingerprint": fingerprint,
        "error_type": error_type,
        "count": group["count"],
        "call_site": call_site,
        "last_duration_s": duration_s,
    }
    return Recommendation(
        rule_id="errors",
        severity="critical",
        title=(
            f"Query{where} failed {plural(group['count'], 'time')} with "
            f"{error_type}{after}: {shorten(fingerprint, 60)}"
        ),
        evidence=evidence,
        suggestion=advice.query_error(fingerprint, error_type, call_site, duration_s),
        impact_s=duration_s or 0.0,
    )
