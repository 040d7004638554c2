"""Compare the runs of two reports: timing rows, count rows and notes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..report.fmt import format_duration, shorten
from .counts import ONLY_NEW, ONLY_OLD, CountRow, count_rows
from .figures import (
    ALL_QUERIES,
    N_PLUS_ONE,
    QUERIES,
    RESULT_PLACE_CHARS,
    TIMING_KINDS,
    MetricKey,
    RunFigures,
    count_place,
    ordered_keys,
)
from .load import LoadedReport
from .stats import (
    FASTER,
    FEWER,
    MIN_SAMPLES,
    MORE,
    SAME,
    SLOWER,
    TOO_FEW,
    UNCHANGED,
    Estimate,
    TimingChange,
    estimate,
    judge_timing,
)
from .workload import workload_difference


@dataclass(frozen=True)
class TimingRow:
    """A scenario, operation or endpoint: its median and p95 change, or absence."""

    key: MetricKey
    median: TimingChange | None
    p95: TimingChange | None
    presence: str = "both"

    @property
    def verdict(self) -> str:
        """Return ``slower`` if either statistic is, else ``faster``, else the rest.

        A statistic with too few samples is left out; a row of two such is
        ``too few``.
        """
        if self.median is None or self.p95 is None:
            return self.presence
        verdicts = {self.median.verdict, self.p95.verdict}
        if SLOWER in verdicts:
            return SLOWER
        if FASTER in verdicts:
            return FASTER
        if verdicts == {TOO_FEW}:
            return TOO_FEW
        return UNCHANGED

    @property
    def samples(self) -> tuple[int, int] | None:
        """Return the samples behind the row, old and new; ``None`` if one-sided."""
        if self.median is None:
            return None
        return self.median.old.samples, self.median.new.samples


@dataclass
class Comparison:
    """Everything the comparison of an old and a new report found."""

    old: LoadedReport
    new: LoadedReport
    tolerance: float
    timings: list[TimingRow] = field(default_factory=list)
    counts: list[CountRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Why some counts were compared per run or not at all.
    notes: list[str] = field(default_factory=list)

    @property
    def different_work(self) -> str | None:
        """Return why the reports' work differs, ``None`` when it is the same.

        Totals over different work are not compared.
        """
        return workload_difference(self.old, self.new)

    @property
    def spread_known(self) -> bool:
        """Return whether either report had repeated runs to measure noise."""
        return len(self.old.runs) > 1 or len(self.new.runs) > 1

    def regressions(self) -> list[str]:
        """Return one line per slower timing, higher count or new N+1 finding.

        A slower timing names the statistics that were slower, old -> new
        and the change. Endpoints, operations and N+1 findings come before
        scenarios, and the whole report's total last: a gate's message names
        the first line, which should be the place to act on.
        """
        lines = [
            (_TIMING_RANK[row.key.kind], _timing_line(row, SLOWER))
            for row in self.timings
            if row.verdict == SLOWER
        ]
        lines += [(rank, line) for rank, line, _ in _count_regressions(self.counts)]
        return [line for _, line in sorted(lines, key=lambda item: item[0])]

    def fixes(self) -> dict[str, str]:
        """Return the new report's suggestion for each N+1 regression, by its line.

        A new N+1 finding or one with more queries per scope is named in
        ``regressions()`` by its call site and query; the fix is the one
        the new report's own recommendation gave, found by the finding's
        query and its call site in the new report (a moved line's new one).
        """
        fixes = {}
        for _, line, row in _count_regressions(self.counts):
            fid = row.finding
            if fid is None:
                continue
            fix = self.new.n_plus_one_fixes.get((fid.fingerprint, fid.file, fid.line))
            if fix is not None:
                # Read from the file: a real suggestion is a few hundred
                # characters, a hand-edited one could be anything.
                fixes[line] = shorten(fix, MAX_FIX_CHARS)
        return fixes

    def query_regressions(self) -> list[str]:
        """Return the regressions of query counts alone (``--fail-on queries``).

        More queries (per request of an endpoint, per run of a scenario, in
        a run's total over the same work), more N+1 queries per scope, a new
        N+1 finding; not timings, not failed runs.
        """
        rows = [row for row in self.counts if row.key.kind in (QUERIES, N_PLUS_ONE)]
        lines = _count_regressions(rows)
        return [line for _, line, _ in sorted(lines, key=lambda item: item[0])]

    def improvements(self) -> list[str]:
        """Return one line per faster timing or lower count."""
        lines = [
            _timing_line(row, FASTER) for row in self.timings if row.verdict == FASTER
        ]
        lines += [
            _count_line(row)
            for row in _totals_last(self.counts)
            if row.verdict == FEWER
        ]
        lines += [
            f"N+1 finding gone at {_place(row)}"
            for row in self.counts
            if row.verdict == ONLY_OLD and row.key.kind == N_PLUS_ONE
        ]
        return lines

    def changed_counts(self) -> list[CountRow]:
        """Return the count rows that differ in any way, a moved line included."""
        return [row for row in self.counts if row.verdict != SAME or row.moved]


def _totals_last(rows: list[CountRow]) -> list[CountRow]:
    """Return ``rows`` with the whole report's total after the rest.

    A gate's message names its first regression: the endpoint, scenario or
    N+1 finding to act on, not the total they add up to.
    """
    return sorted(rows, key=lambda row: row.key == (QUERIES, ALL_QUERIES))


#: The most characters of a fix shown beside an N+1 regression.
MAX_FIX_CHARS = 1000

# The order of a gate's lines: the endpoint, operation or N+1 finding to act
# on first, a scenario (which runs many of them) after, the total last.
_TIMING_RANK = {"endpoint": 0, "operation": 0, "scenario": 1}
_TOTAL_RANK = 2


def _count_regressions(rows: list[CountRow]) -> list[tuple[int, str, CountRow]]:
    """Return each higher count and new N+1 finding, ranked for the gate."""
    lines = []
    for row in rows:
        if row.verdict == MORE:
            lines.append((_count_rank(row), _count_line(row), row))
        elif row.verdict == ONLY_NEW and row.key.kind == N_PLUS_ONE:
            lines.append((_count_rank(row), f"new N+1 finding at {_place(row)}", row))
    return lines


def _count_rank(row: CountRow) -> int:
    if row.key.kind == N_PLUS_ONE:
        return 0
    if row.key == (QUERIES, ALL_QUERIES):
        return _TOTAL_RANK
    return _TIMING_RANK.get(row.key.name.partition(" ")[0], 0)


def timing_values(change: TimingChange) -> str:
    """Return ``old -> new`` of a statistic: ``3.4 -> 3.7 ms``, one unit if shared."""
    old = format_duration(change.old.value_s)
    new = format_duration(change.new.value_s)
    number, _, unit = old.partition(" ")
    if unit and new.endswith(f" {unit}"):
        old = number
    return f"{old} -> {new}"


def relative_change(change: TimingChange) -> str:
    """Return the change in percent (``+250.0%``); ``from 0`` or ``0%`` from 0."""
    if change.relative is None:
        return "from 0" if change.delta_s else "0%"
    return f"{change.relative:+.1%}"


def _timing_line(row: TimingRow, verdict: str) -> str:
    # "endpoint GET /x/ is slower: median 41.9 -> 147 ms (+250.0%)"
    changes = [
        f"{name} {timing_values(change)} ({relative_change(change)})"
        for name, change in (("median", row.median), ("p95", row.p95))
        if change is not None and change.verdict == verdict
    ]
    return f"{row.key.kind} {row.key.name} is {verdict}: {', '.join(changes)}"


def _place(row: CountRow) -> str:
    # A line of its own: only an ORM query's long column list is elided.
    return count_place(row.key, RESULT_PLACE_CHARS)


def _count_line(row: CountRow) -> str:
    return f"{_place(row)}: {row.old} -> {row.new} {row.what}"


def compare_reports(
    old: LoadedReport, new: LoadedReport, *, tolerance: float
) -> Comparison:
    """Compare ``new`` against ``old``; ``tolerance`` is a fraction (0.1 = 10 %).

    Raise ``ValueError`` for a negative tolerance.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be 0 or more, not {tolerance!r}")
    comparison = Comparison(old=old, new=new, tolerance=tolerance)
    comparison.timings = _timing_rows(old.runs, new.runs, tolerance)
    comparison.counts, comparison.notes = count_rows(old, new)
    comparison.warnings = _warnings(old, new)
    return comparison


def _timing_rows(
    old_runs: tuple[RunFigures, ...],
    new_runs: tuple[RunFigures, ...],
    tolerance: float,
) -> list[TimingRow]:
    keys = ordered_keys([run.timings for run in (*old_runs, *new_runs)])
    rows = []
    for kind in TIMING_KINDS:
        for key in (k for k in keys if k.kind == kind):
            old = _estimates(key, old_runs)
            new = _estimates(key, new_runs)
            if old is None or new is None:
                presence = ONLY_NEW if old is None else ONLY_OLD
                rows.append(TimingRow(key, None, None, presence))
                continue
            rows.append(
                TimingRow(
                    key,
                    judge_timing(
                        old[0], new[0], tolerance, min_samples=MIN_SAMPLES[0.5]
                    ),
                    # A scenario's p95 over 5 runs is mostly its slowest
                    # run: judged from as many runs as any p95 needs.
                    judge_timing(
                        old[1],
                        new[1],
                        tolerance,
                        min_samples=MIN_SAMPLES[0.95],
                        across_runs=kind == "scenario",
                    ),
                )
            )
    return rows


def _estimates(
    key: MetricKey, runs: tuple[RunFigures, ...]
) -> tuple[Estimate, Estimate] | None:
    per_run = [run.timings[key] for run in runs if key in run.timings]
    if not per_run:
        return None
    # Every request (call, run of a scenario) of every run: what a single
    # run's statistic stands on.
    samples = sum(run.samples[key] for run in runs if key in run.timings)
    medians = [p50 for p50, _ in per_run]
    if key.kind == "scenario":
        # A scenario runs once per run: its p95 is taken over the runs.
        return estimate(medians, samples=samples), estimate(
            medians, 0.95, samples=samples
        )
    return estimate(medians, samples=samples), estimate(
        [p95 for _, p95 in per_run], samples=samples
    )


def _warnings(old: LoadedReport, new: LoadedReport) -> list[str]:
    warnings = []
    if old.time_scale != new.time_scale:
        warnings.append(
            f"The reports were made at different time scales (old {old.time_scale}, "
            f"new {new.time_scale}): their timings are not comparable."
        )
    if old.seed is not None and new.seed is not None and old.seed != new.seed:
        warnings.append(
            f"The reports were made from different seeds (old {old.seed}, new "
            f"{new.seed}): the generated data differs, so some counts may too."
        )
    if old.database_vendor != new.database_vendor:
        warnings.append(
            f"The reports ran on different databases (old {old.database_vendor}, "
            f"new {new.database_vendor})."
        )
    return warnings
