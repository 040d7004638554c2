"""Tell whether two reports served the same work, so their totals compare.

A report's totals (its queries in a run, an N+1 finding's queries in a run)
grow with the work it measured: two reports of a live site that served other
traffic differ in them with no change in the code. The work a run shows is
its scenarios, the number of requests to each endpoint and the number of
scopes it closed (tests, requests, scenarios, ``monitor.scope()`` blocks).
Two reports served the same work when every run of both shows the same, that
work is not nothing, and they were not made from different seeds.
"""

from __future__ import annotations

from .figures import Workload
from .load import LoadedReport


def workload_difference(old: LoadedReport, new: LoadedReport) -> str | None:
    """Return why the reports' work differs, or ``None`` when it is the same."""
    if old.seed is not None and new.seed is not None and old.seed != new.seed:
        return "they were made from different seeds"
    works: list[Workload] = []
    for side, report in (("old", old), ("new", new)):
        distinct = {run.workload for run in report.runs}
        if len(distinct) > 1:
            return f"the runs of the {side} report did different work"
        works.extend(distinct)
    return _difference(*works)


def _difference(old: Workload, new: Workload) -> str | None:
    if old.scenarios != new.scenarios:
        return "they ran different scenarios"
    if old.requests != new.requests:
        return _request_difference(dict(old.requests), dict(new.requests))
    # A record written before scopes were counted leaves them out.
    if None not in (old.scopes, new.scopes) and old.scopes != new.scopes:
        return f"they closed {old.scopes} scopes in old, {new.scopes} in new"
    if not (old.scenarios or old.requests or old.scopes or new.scopes):
        return "neither report shows its work (no scenario, request or scope)"
    return None


def _request_difference(old: dict[str, int], new: dict[str, int]) -> str:
    # Called on two works whose requests differ, so some endpoint's number
    # does (endpoints without any request are left out).
    name = next(n for n in {**old, **new} if old.get(n, 0) != new.get(n, 0))
    return f"{name} had {old.get(name, 0)} requests in old, {new.get(name, 0)} in new"
