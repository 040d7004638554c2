"""Flag every group of recorded errors, with where it was raised."""

from __future__ import annotations

from ...conf import PerfprobeSettings
from .. import advice
from ..fmt import plural, shorten
from ..model import Recommendation
from .registry import ReportData, register_rule


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
    # The latest error of each group says where user code raised it.
    raised_at = {
        (e["source"], e["name"], e["error_type"]): e.get("raised_at")
        for e in data["errors"]["recent"]
    }
    found = []
    for group in data["errors"]["counts"]:
        source, name, error_type = group["source"], group["name"], group["error_type"]
        call_site = (
            sites.get(name)
            if source == "query"
            else raised_at.get((source, name, error_type))
        )
        evidence = {
            "source": source,
            "name": name,
            "error_type": error_type,
            "count": group["count"],
        }
        if call_site:
            evidence["call_site" if source == "query" else "raised_at"] = call_site
        if source == "query":
            evidence["fingerprint"] = name
        found.append(
            Recommendation(
                rule_id="errors",
                severity="critical" if source in ("request", "query") else "warning",
                title=(
                    f"{source.capitalize()} {shorten(name, 60)} failed "
                    f"{plural(group['count'], 'time')} with {error_type}"
                ),
                evidence=evidence,
                suggestion=advice.error(source, name, error_type, call_site),
            )
        )
    return found
