"""Compare the exact counts of two reports, each by what makes it comparable.

A scenario's queries and failed runs are per run of the scenario. An
endpoint's queries are compared per request (the fewest to the most one of
its requests made) and an N+1 finding's per scope (the most it made in one
scope), so that more traffic alone changes neither. A run's totals, the
whole report's queries, are judged only when both reports served the same
work (``workload``), as are the per-run totals an older report offers where
it lacks a per-request or per-scope figure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .figures import (
    ALL_QUERIES,
    COUNT_KINDS,
    N_PLUS_ONE,
    PER_REQUEST,
    PER_RUN,
    PER_SCOPE,
    QUERIES,
    CountKey,
    FindingId,
    RunFigures,
    ordered_keys,
    unit_of,
)
from .load import LoadedReport
from .matching import match_findings, moved_name
from .stats import SAME, CountRange, judge_count
from .workload import workload_difference

ONLY_OLD = "only in old"
ONLY_NEW = "only in new"
NOT_COMPARED = "not compared"

_LACKING = {PER_REQUEST: "per-request query range", PER_SCOPE: "per-scope N+1 figure"}


@dataclass(frozen=True)
class CountRow:
    """A query count, failed-run count or N+1 finding, compared exactly.

    ``per`` says what one value counts: a run (``PER_RUN``), one request of
    an endpoint (``PER_REQUEST``: the fewest to the most queries) or one
    scope of an N+1 finding (``PER_SCOPE``: the most queries). A per-run
    total that only the same work makes comparable is ``judged`` only when
    both reports served it. ``lacking`` names the reports ("old", "new")
    whose missing per-unit figure left the row with per-run totals.
    ``moved`` marks an N+1 finding matched across reports whose line moved.
    ``finding`` is an N+1 finding as the new report names it (its last run
    that has it), ``None`` for other rows and for a finding gone.
    """

    key: CountKey
    old: CountRange | None
    new: CountRange | None
    per: str = PER_RUN
    judged: bool = True
    lacking: tuple[str, ...] = ()
    moved: bool = False
    finding: FindingId | None = None

    @property
    def what(self) -> str:
        """Return what one value counts, as the comparison shows it."""
        return self.key.kind if self.per == PER_RUN else f"{self.key.kind}/{self.per}"

    @property
    def not_compared(self) -> bool:
        """Return whether both reports have the row but over work not alike.

        Such a row's totals are ``not compared``, even where they are equal.
        """
        return self.old is not None and self.new is not None and not self.judged

    @property
    def verdict(self) -> str:
        """Return ``more``, ``fewer``, ``changed``, ``same`` or why not judged.

        A row in one report only is ``only in old`` or ``only in new``; one
        whose totals differ where the work did is ``not compared``.
        """
        if self.old is None:
            return ONLY_NEW
        if self.new is None:
            return ONLY_OLD
        verdict = judge_count(self.old, self.new)
        return verdict if self.judged or verdict == SAME else NOT_COMPARED


def count_rows(
    old: LoadedReport, new: LoadedReport
) -> tuple[list[CountRow], list[str]]:
    """Return the count rows of two reports, and notes on what was not judged."""
    difference = workload_difference(old, new)
    old_runs, new_runs, moved = match_findings(old.runs, new.runs)
    keys = ordered_keys([run.counts for run in (*old_runs, *new_runs)])
    moved_keys = {CountKey(N_PLUS_ONE, moved_name(*pair)) for pair in moved}
    rows = [
        _row(key, old_runs, new_runs, same_work=difference is None)
        for kind in COUNT_KINDS
        for key in keys
        if key.kind == kind
    ]
    rows = [
        dataclasses.replace(
            row,
            moved=row.key in moved_keys,
            finding=_last_finding(row.key, new_runs),
        )
        if row.key.kind == N_PLUS_ONE
        else row
        for row in rows
    ]
    return rows, _notes(rows, old, new, difference) + _moved_notes(moved)


def _last_finding(key: CountKey, runs: tuple[RunFigures, ...]) -> FindingId | None:
    found = [run.findings[key] for run in runs if key in run.findings]
    return found[-1] if found else None


def _row(
    key: CountKey,
    old_runs: tuple[RunFigures, ...],
    new_runs: tuple[RunFigures, ...],
    *,
    same_work: bool,
) -> CountRow:
    per = unit_of(key)
    lacking: tuple[str, ...] = ()
    if per != PER_RUN:
        old, new = _unit_range(key, old_runs), _unit_range(key, new_runs)
        if isinstance(old, _Missing) or isinstance(new, _Missing):
            lacking = tuple(
                side
                for side, figure in (("old", old), ("new", new))
                if isinstance(figure, _Missing)
            )
        # An endpoint none of whose requests was counted has no figure in
        # either report: its totals (none) are compared instead.
        elif old is not None or new is not None:
            return CountRow(key, old, new, per=per)
    # A scenario's queries and failed runs are per run of the scenario,
    # always comparable; a run's total only over the same work.
    totals = key == (QUERIES, ALL_QUERIES) or per != PER_RUN
    return CountRow(
        key,
        _range(key, old_runs),
        _range(key, new_runs),
        judged=same_work or not totals,
        lacking=lacking,
    )


class _Missing:
    """The per-unit figure of a row is missing from a report that has the row."""


# A run without an N+1 finding had none of its queries in any scope.
_ABSENT = CountRange(0, 0)


def _unit_range(
    key: CountKey, runs: tuple[RunFigures, ...]
) -> CountRange | _Missing | None:
    if key.kind == N_PLUS_ONE:
        figures = [run.per_unit.get(key, _ABSENT) for run in runs]
        if all(figure == _ABSENT for figure in figures):
            return None
    else:
        figures = [run.per_unit[key] for run in runs if key in run.per_unit]
        if not figures:
            return None
    known = [figure for figure in figures if figure is not None]
    if len(known) < len(figures):
        return _Missing()
    return CountRange(min(f.low for f in known), max(f.high for f in known))


def _range(key: CountKey, runs: tuple[RunFigures, ...]) -> CountRange | None:
    if key.kind == N_PLUS_ONE:
        # A run without the finding had none of its queries.
        values = [run.counts.get(key, 0) for run in runs]
        return None if not any(values) else CountRange.of(values)
    values = [run.counts[key] for run in runs if key in run.counts]
    return CountRange.of(values) if values else None


def _moved_notes(moved: list[tuple[FindingId, FindingId]]) -> list[str]:
    return [
        f"N+1 finding {old.file}:{old.line} -> {new.line}"
        f"{f' ({old.relation})' if old.relation else ''} is one finding whose "
        f"line moved (the same file, {_function(old, new)}query and relation): "
        "compared as one."
        for old, new in moved
    ]


def _function(old: FindingId, new: FindingId) -> str:
    # Named only when both reports name it: matched by it then.
    if old.function is None or old.function != new.function:
        return ""
    return f"function {old.function}, "


def _notes(
    rows: list[CountRow],
    old: LoadedReport,
    new: LoadedReport,
    difference: str | None,
) -> list[str]:
    notes = []
    if any(row.verdict == NOT_COMPARED for row in rows):
        notes.append(
            f"Query totals per run are not compared: {difference}. Endpoints "
            "are compared per request and N+1 findings per scope instead."
        )
    for side, report in (("old", old), ("new", new)):
        lacking = [_LACKING[unit_of(row.key)] for row in rows if side in row.lacking]
        if lacking:
            notes.append(
                f"The {side} report ({report.source}) has no "
                f"{' and no '.join(dict.fromkeys(lacking))} (it was written "
                "by an older perfprobe): those rows compare queries per run "
                "instead, judged only when both reports served the same work"
                + (", as they did." if difference is None else ".")
            )
    return notes
