"""Figures and verdicts across several launches of the request benchmark.

A launch is one run with fresh worker processes. Each worker process has an
offset of its own that lasts its life (about ±1 µs a `/json/` request, more
on longer requests), so a launch's spread over its round pairs understates
how far the next launch lands. Here each launch keeps its own figures, the
median and the range are taken over launches, and a target is judged in
every launch and settled only when all launches agree.

Pure functions on plain numbers, so the tests can check them by hand.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .analysis import Target, ViewResult

MET = "MET"
MISSED = "MISSED"
NOT_SETTLED = "NOT SETTLED"

VERDICT_RULE = (
    "Each target is judged in every launch on that launch's own figures (the "
    "10x ratio against each N+1-detecting tool as measured in the same "
    "launch). Verdict: MET only if every launch meets it, MISSED if no launch "
    "meets it, NOT SETTLED otherwise. A launch in which a target could not be "
    "judged (the tool did not run) neither meets nor misses it, so that target "
    "cannot be MET."
)


def verdict(outcomes: Sequence[bool | None]) -> str:
    """Return the verdict over launches: ``True`` met, ``False`` missed.

    ``None`` is a launch that could not judge the target.
    """
    met = sum(outcome is True for outcome in outcomes)
    missed = sum(outcome is False for outcome in outcomes)
    if outcomes and met == len(outcomes):
        return MET
    if met == 0 and missed > 0:
        return MISSED
    return NOT_SETTLED


@dataclass(frozen=True)
class Spread:
    """One figure in each launch (``None`` where it was not measured)."""

    values: tuple[float | None, ...]

    @property
    def measured(self) -> list[float]:
        """Return the launches' figures that exist, in launch order."""
        return [v for v in self.values if v is not None]

    @property
    def median(self) -> float | None:
        """Return the median over the launches that measured it."""
        found = self.measured
        return statistics.median(found) if found else None

    @property
    def low(self) -> float | None:
        """Return the smallest figure of any launch."""
        found = self.measured
        return min(found) if found else None

    @property
    def high(self) -> float | None:
        """Return the largest figure of any launch."""
        found = self.measured
        return max(found) if found else None


@dataclass(frozen=True)
class Launch:
    """What one launch gave: its timed results, targets and collector figure."""

    #: Per view name, per configuration, the launch's timed result.
    results: Mapping[str, Mapping[str, ViewResult]]
    #: The targets judged on this launch's figures (``check_targets``).
    targets: Sequence[Target]
    #: Per configuration, added ns a query on the N+1 view with the
    #: collector's time included (info); empty without that measurement.
    with_collector_ns_per_query: Mapping[str, float | None]


@dataclass(frozen=True)
class ViewAcross:
    """One configuration on one view, over the launches."""

    #: Added ns a request, or a query on a view with several queries.
    added_ns: Spread
    #: Share of baseline throughput.
    ratio: Spread
    #: Added ns a query with the collector included (info), if measured.
    with_collector_ns: Spread | None


def _names_in_order(groups: Sequence[Sequence[str]]) -> list[str]:
    names: list[str] = []
    for group in groups:
        names += [name for name in group if name not in names]
    return names


def view_across(
    launches: Sequence[Launch], view: str, per_query: bool, baseline: str
) -> dict[str, ViewAcross]:
    """Return each configuration's figures on ``view`` over the launches.

    Configurations come in the order the launches first name them, without
    ``baseline`` (its figures are zero and one by definition); one missing
    from a launch has ``None`` there.
    """
    results = [launch.results.get(view, {}) for launch in launches]
    across: dict[str, ViewAcross] = {}
    for name in _names_in_order([list(r) for r in results]):
        if name == baseline:
            continue
        added: list[float | None] = []
        ratio: list[float | None] = []
        for by_name in results:
            result = by_name.get(name)
            if result is None:
                added.append(None)
                ratio.append(None)
            else:
                added.append(
                    result.added_ns_per_query if per_query else result.added_ns
                )
                ratio.append(result.ratio)
        collector = None
        if per_query and any(launch.with_collector_ns_per_query for launch in launches):
            collector = Spread(
                tuple(
                    launch.with_collector_ns_per_query.get(name) for launch in launches
                )
            )
        across[name] = ViewAcross(Spread(tuple(added)), Spread(tuple(ratio)), collector)
    return across


@dataclass(frozen=True)
class TargetAcross:
    """One target judged in each launch, and the verdict over them."""

    description: str
    #: The target as judged in each launch; ``None`` where it was not.
    per_launch: tuple[Target | None, ...]

    @property
    def verdict(self) -> str:
        """Return MET, MISSED or NOT SETTLED (see ``VERDICT_RULE``)."""
        return verdict([t.passed if t else None for t in self.per_launch])

    @property
    def values(self) -> Spread:
        """Return the judged figure of each launch."""
        return Spread(tuple(t.value if t else None for t in self.per_launch))

    def show(self, value: float | None) -> str:
        """Print ``value`` as this target prints its figure."""
        if value is None:
            return "—"
        example = next(t for t in self.per_launch if t is not None)
        return example.show(value)

    def launch_cell(self, index: int) -> str:
        """Return what launch ``index`` measured, short, and a mark if missed."""
        target = self.per_launch[index]
        if target is None:
            return "—"
        shown = (
            target.show(target.value) if target.value is not None else (target.measured)
        )
        return shown if target.passed else f"{shown} ✗"


def judge_launches(per_launch: Sequence[Sequence[Target]]) -> list[TargetAcross]:
    """Match each launch's targets by description and judge them together."""
    by_launch = [{t.description: t for t in targets} for targets in per_launch]
    order = _names_in_order([[t.description for t in ts] for ts in per_launch])
    return [
        TargetAcross(
            description, tuple(targets.get(description) for targets in by_launch)
        )
        for description in order
    ]
