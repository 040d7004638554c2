"""Hand-built reports and run records whose figures the compare tests know."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

N1_SQL = 'SELECT "shop_customer"."id" FROM "shop_customer" WHERE "id" = ?'
N1_SITE = "apps/shop/views.py:42"


def run(
    *,
    scenarios: dict[str, tuple[float, int]] | None = None,
    operations: dict[str, tuple[float, float]] | None = None,
    endpoints: dict[str, tuple[float, float, int | list[int]]] | None = None,
    n_plus_one: dict[tuple[str, str | None], int | list[int]] | None = None,
    queries: int = 0,
    critical: int = 0,
    failed: tuple[str, ...] = (),
    scopes: int | None = None,
    legacy: bool = False,
    relations: dict[tuple[str, str | None], str | None] | None = None,
    calls: int = 20,
    functions: dict[tuple[str, str | None], str | None] | None = None,
) -> dict[str, Any]:
    """Return one ``runs`` record in the documented format.

    ``scenarios`` maps a name to (duration_s, query_count), ``operations``
    a name to (p50, p95), ``endpoints`` "METHOD route" to (p50, p95,
    queries): one request's query count, or a list with one count per
    request. ``n_plus_one`` maps (fingerprint, call site) to its count in
    one scope, or a list of its counts in each scope. ``scopes`` is the
    number of scopes closed, left out when ``None``. ``legacy`` leaves out
    what records written before 5 December 2026 lacked: the fewest and most
    queries of one request, the most queries of an N+1 in one scope, the
    scopes closed. ``relations`` gives N+1 findings their lazy-loaded
    relation (``"Book.author"``, or ``None`` for none); a finding it leaves
    out has no ``lazy_load``, as in records written before it was kept.
    ``functions`` gives them the function their call site is in
    (``"BookList.get"``, or ``None`` when unknown); a finding it leaves out
    has no ``function``, as in records written before it was kept.
    ``calls`` is each operation's calls in the run: 20 by default, enough
    for a comparison of single runs to judge a p95.
    """
    record: dict[str, Any] = {
        "generated_at": "2026-01-01T00:00:00+00:00",
        "scenarios": [
            {
                "name": name,
                "status": "failed" if name in failed else "ok",
                "duration_s": duration_s,
                "query_count": query_count,
            }
            for name, (duration_s, query_count) in (scenarios or {}).items()
        ],
        "operations": [
            {"name": name, "count": calls, "p50": p50, "p95": p95}
            for name, (p50, p95) in (operations or {}).items()
        ],
        "endpoints": [
            _endpoint(name, p50, p95, _each(per_request), legacy)
            for name, (p50, p95, per_request) in (endpoints or {}).items()
        ],
        "queries": queries,
        "n_plus_one": [
            _n_plus_one(fingerprint, site, _each(per_scope), legacy)
            | (
                {"lazy_load": relations[fingerprint, site]}
                if relations and (fingerprint, site) in relations
                else {}
            )
            | (
                {"function": functions[fingerprint, site]}
                if functions and (fingerprint, site) in functions
                else {}
            )
            for (fingerprint, site), per_scope in (n_plus_one or {}).items()
        ],
        "recommendations": {"critical": critical, "warning": 0, "info": 0},
    }
    if scopes is not None and not legacy:
        record["scopes_closed"] = scopes
    return record


def _each(value: int | list[int]) -> list[int]:
    return [value] if isinstance(value, int) else value


def _endpoint(
    name: str, p50: float, p95: float, per_request: list[int], legacy: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "method": name.split(" ")[0],
        "route": name.split(" ")[1],
        "count": len(per_request),
        "p50": p50,
        "p95": p95,
        "query_count": sum(per_request),
    }
    if not legacy:
        record["queries_per_request"] = {
            "min": min(per_request),
            "max": max(per_request),
        }
    return record


def _n_plus_one(
    fingerprint: str, site: str | None, per_scope: list[int], legacy: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "fingerprint": fingerprint,
        "call_site": site,
        "count": sum(per_scope),
    }
    if not legacy:
        record["max_count_per_scope"] = max(per_scope)
    return record


def report(
    *runs: dict[str, Any],
    time_scale: float = 1.0,
    vendor: str = "sqlite",
    critical_titles: tuple[str, ...] = (),
    seed: int | None = None,
) -> dict[str, Any]:
    """Return a report of ``runs``: one run as the body itself, more in ``runs``.

    A single run is written as a report without ``runs``, as reports were
    before repeated runs existed. The body lists the last run's critical
    recommendations, titled by ``critical_titles`` first.
    """
    last = runs[-1]
    data: dict[str, Any] = {
        "schema_version": "1.0",
        "generated_at": last["generated_at"],
        "title": "hand-built",
        "environment": {"database_vendor": vendor},
        "settings": {"time_scale": time_scale}
        if seed is None
        else {"time_scale": time_scale, "seed": seed},
        "scenarios": [
            {**s, "description": "", "details": {}} for s in last["scenarios"]
        ],
        "operations": [
            {
                "name": o["name"],
                "stats": {"count": o["count"], "p50": o["p50"], "p95": o["p95"]},
            }
            for o in last["operations"]
        ],
        "endpoints": [
            {
                "method": e["method"],
                "route": e["route"],
                "count": e["count"],
                "stats": {"count": e["count"], "p50": e["p50"], "p95": e["p95"]},
                "query_counts": _query_counts(e),
            }
            for e in last["endpoints"]
        ],
        "queries": {"total": {"count": last["queries"]} if last["queries"] else None},
        "n_plus_one": {
            "aggregated": [_aggregated(finding) for finding in last["n_plus_one"]],
            "findings": [],
            **(
                {"scopes_analysed": last["scopes_closed"]}
                if "scopes_closed" in last
                else {}
            ),
        },
        "recommendations": [
            {"severity": "critical", "title": title}
            for title in _titles(critical_titles, last["recommendations"]["critical"])
        ],
    }
    if len(runs) > 1:
        data["runs"] = list(runs)
    return data


def _aggregated(finding: dict[str, Any]) -> dict[str, Any]:
    # A run record's "Book.author" is the body's lazy_load object.
    if finding.get("lazy_load") is None:
        return finding
    model, name = finding["lazy_load"].split(".")
    lazy_load = {
        "model": model,
        "field": name,
        "relation": "forward foreign key",
        "fix": f'select_related("{name}")',
    }
    return {**finding, "lazy_load": lazy_load}


def _query_counts(endpoint: dict[str, Any]) -> dict[str, Any]:
    # As the report writes them: floats, min and max of one request.
    counts = {"count": endpoint["count"], "total": float(endpoint["query_count"])}
    per_request = endpoint.get("queries_per_request")
    if per_request is not None:
        counts.update(min=float(per_request["min"]), max=float(per_request["max"]))
    return counts


def _titles(given: tuple[str, ...], count: int) -> list[str]:
    # The body's list agrees with its run's count of critical findings.
    return [*given, *(f"critical finding {i}" for i in range(len(given), count))]


def write(path: Path, data: Any) -> str:
    """Write ``data`` as JSON to ``path`` and return the path as a string."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def compare_files(
    folder: Path, old: dict[str, Any], new: dict[str, Any], *options: str
) -> str:
    """Write ``old`` and ``new`` in ``folder``, compare them, return the output.

    ``options`` go to ``perfprobe_compare`` (``"--fail-on", "queries"``); a
    gate that fails raises its ``CommandError``.
    """
    out = StringIO()
    call_command(
        "perfprobe_compare",
        write(folder / "old.json", old),
        write(folder / "new.json", new),
        *options,
        stdout=out,
    )
    return out.getvalue()
