"""Tell whether two reports served the same work, so their totals compare.

A report's totals (its queries in a run, an N+1 finding's queries in a run)
grow with the work it measured: two reports of a live site that served other
traffic differ in them with no change in the code. The work a run shows is
its scenarios and the number of requests to each endpoint; two reports
served the same work when every run of both shows the same, that work is not
nothing, and they were not made from different seeds.
"""

from __future__ import annotations

from .figures import RunFigures, Workload
from .load import LoadedReport


def workload_difference(old: LoadedReport, new: LoadedReport) -> str | None:
    """Return why the reports' work differs, or ``None`` when it is the same."""
    if old.seed is not None and new.seed is not None and old.seed != new.seed:
        return "they were made from different seeds"
    old_work, new_work = _works(old.runs), _works(new.runs)
    for side, works in (("old", old_work), ("new", new_work)):
        if len(works) > 1:
            return f"the runs of the {side} report did different work"
    if old_work == new_work:
        (work,) = old_work
        if not work.scenarios and not work.requests:
            return "neither report shows its work (no scenario, no request)"
        return None
    (old_one,), (new_one,) = old_work, new_work
    if old_one.scenarios != new_one.scenarios:
        return "they ran different scenarios"
    return _request_difference(dict(old_one.requests), dict(new_one.requests))


def _works(runs: tuple[RunFigures, ...]) -> set[Workload]:
    return {run.workload for run in runs}


def _request_difference(old: dict[str, int], new: dict[str, int]) -> str:
    # Called on two works with the same scenarios that still differ, so some
    # endpoint's requests do (endpoints without any request are left out).
    name = next(n for n in {**old, **new} if old.get(n, 0) != new.get(n, 0))
    return f"{name} had {old.get(name, 0)} requests in old, {new.get(name, 0)} in new"
