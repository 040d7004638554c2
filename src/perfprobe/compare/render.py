"""Print a ``Comparison`` to a rich console: timings, counts, then the verdict."""

from __future__ import annotations

from rich import box
from rich.console import Console, OverflowMethod
from rich.table import Table
from rich.text import Text

from ..report.fmt import format_duration, plural, printable, shorten
from ..report.terminal import plain_width, spelling
from .comparison import Comparison, TimingRow, relative_change, timing_values
from .counts import ONLY_NEW, ONLY_OLD, CountRow
from .figures import (
    ALL_QUERIES,
    N_PLUS_ONE,
    PER_REQUEST,
    PER_RUN,
    PER_SCOPE,
    QUERIES,
    count_place,
)
from .stats import (
    FASTER,
    MIN_SAMPLES,
    SAME,
    SLOWER,
    TOO_FEW,
    UNCHANGED,
    TimingChange,
)
from .tablefit import fit_columns

VERDICT_STYLES = {
    SLOWER: "bold red",
    "more": "bold red",
    FASTER: "green",
    "fewer": "green",
    "changed": "yellow",
}
UNIT_LEGENDS = {
    PER_REQUEST: (
        "queries/request: the fewest-most queries one request of the endpoint made"
    ),
    PER_SCOPE: (
        "N+1 queries/scope: the most the finding made in one scope (a request, "
        "a scenario, a test)"
    ),
    PER_RUN: "the rest per run",
}
TIMING_TITLES = {
    "scenario": "Scenarios",
    "operation": "Operations",
    "endpoint": "Endpoints",
}
#: How a row in one report only reads: an N+1 finding gone or new is
#: judged (fixed, a regression); any other such row is not.
FIXED_N_PLUS_ONE = "gone: fixed"
NEW_N_PLUS_ONE = "new finding"
NOT_JUDGED = "not judged"
#: What one sample of a timing row is.
SAMPLE_UNITS = {"scenario": "runs", "operation": "calls", "endpoint": "requests"}


def format_tolerance(tolerance: float) -> str:
    """Return a tolerance fraction as a percentage: ``0.1`` -> ``10%``."""
    return f"{tolerance * 100:g}%"


def noise_rule(comparison: Comparison) -> str:
    """Return the sentence that says what a change had to beat to count."""
    old_runs, new_runs = len(comparison.old.runs), len(comparison.new.runs)
    runs = f"Runs: old {old_runs}, new {new_runs}."
    tolerance = format_tolerance(comparison.tolerance)
    if not comparison.spread_known:
        return (
            f"{runs} With a single run in each report no spread is known: only "
            f"the tolerance ({tolerance}) decides, and {_minimum()}. Reports "
            "of repeated runs (the demo's --repeat 5 or more) give a "
            "comparison that accounts for noise; live reports cannot be "
            "repeated: gate them with --fail-on queries."
        )
    which = (
        "both reports"
        if old_runs > 1 and new_runs > 1
        else ("the old report" if old_runs > 1 else "the new report")
    )
    scenarios = (
        f" A scenario's p95, taken across the runs, is judged only from "
        f"{MIN_SAMPLES[0.95]} runs in each report."
        if any(row.key.kind == "scenario" for row in comparison.timings)
        else ""
    )
    return (
        f"{runs} A timing counts as changed when the difference is larger than "
        f"the spread (max - min) across the runs of {which} and larger than the "
        f"tolerance ({tolerance}).{scenarios}"
    )


def _minimum() -> str:
    """Return the samples a median and a p95 need, said once when alike."""
    median, p95 = MIN_SAMPLES[0.5], MIN_SAMPLES[0.95]
    if median == p95:
        return f"a median or p95 needs {median} samples (n) on each side"
    return f"a median needs {median} samples (n) on each side, a p95 {p95}"


class ComparisonRenderer:
    """Print a comparison; plain ASCII at ``plain_width()`` when not a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        terminal = console.is_terminal
        self.width = None if terminal else plain_width()
        self.box = box.SIMPLE_HEAD if terminal else box.ASCII
        # Spelt before layout, so an ASCII stream's "..." keeps borders aligned.
        self._spell = spelling(console)
        # rich cuts what does not fit with its own "\u2026", after the spelling
        # above; where that would be respelt (three characters for one, so
        # the borders move), what does not fit folds instead.
        self._overflow: OverflowMethod = (
            "ellipsis" if self._spell("\u2026") == "\u2026" else "fold"
        )

    def render(self, comparison: Comparison) -> None:
        """Print the header, one table per kind, the counts and the verdict."""
        self._line(
            f"Comparison: {comparison.old.source} (old) -> {comparison.new.source} "
            "(new)",
            "bold",
        )
        self._line(noise_rule(comparison))
        for warning in comparison.warnings:
            self._line(f"Warning: {warning}", "yellow")
        for kind, title in TIMING_TITLES.items():
            rows = [row for row in comparison.timings if row.key.kind == kind]
            if rows:
                self._timings(title, rows)
        if comparison.timings:
            brackets = any(_too_few(row) for row in comparison.timings)
            self._line(
                "Median, p95: old -> new and the change"
                + (" (in brackets: too few samples, not judged)" if brackets else "")
                + "; n: requests (calls of an operation, runs of a scenario), "
                "old/new."
            )
        self._counts(comparison)
        self._verdict(comparison)

    def _line(self, text: str, style: str = "") -> None:
        self.console.print(
            Text(self._spell(printable(text)), style=style),
            width=self.width,
            markup=False,
            highlight=False,
        )

    def _print_table(self, table: Table) -> None:
        # rich prints no wider than its console, whatever width print() asks.
        width = self.console.width
        if self.width is not None:
            width = min(self.width, width)
        fit_columns(table, width)
        self.console.print(table, width=self.width)

    def _table(self, title: str, columns: list[str]) -> Table:
        table = Table(title=title, title_justify="left", box=self.box)
        for column in columns:
            table.add_column(column, overflow="fold")
        return table

    def _timings(self, title: str, rows: list[TimingRow]) -> None:
        table = Table(title=title, title_justify="left", box=self.box)
        table.add_column("Name", overflow="fold")
        # Wrappable: on a narrow screen rich shrinks only the columns that may
        # wrap, and with just Name and Verdict left it shrank both to nothing.
        table.add_column("n", overflow=self._overflow)
        # From 80 columns wide enough for "1.30 -> 1.30 s", the change
        # wrapping below it; narrower, as narrow as rich needs.
        width = self.width or self.console.width
        for column in ("Median", "p95"):
            table.add_column(
                column, overflow=self._overflow, min_width=14 if width >= 80 else None
            )
        table.add_column("Verdict", overflow="fold")
        for row in rows:
            # Names come from report files: Text, because a str cell is read
            # as rich markup ("[/b]" would raise, "[link=...]" would link).
            samples = row.samples
            table.add_row(
                Text(self._spell(printable(shorten(row.key.name, 80)))),
                "-" if samples is None else f"{samples[0]}/{samples[1]}",
                _statistic(row.median),
                _statistic(row.p95),
                _row_verdict(row),
            )
        self._print_table(table)

    def _counts(self, comparison: Comparison) -> None:
        changed = comparison.changed_counts()
        if changed:
            self._count_table(changed)
        else:
            self._line(
                "Query counts, failed runs and N+1 findings: "
                + all_the_same(comparison.counts, comparison.different_work)
            )
        for note in comparison.notes:
            self._line(f"Note: {note}")

    def _count_table(self, rows: list[CountRow]) -> None:
        table = self._table(
            "Counts and N+1 findings that changed (exact)",
            ["What", "Where", "Old", "New", "Verdict"],
        )
        for row in rows:
            label, style = count_verdict(row)
            table.add_row(
                Text(row.what),
                Text(self._spell(printable(count_place(row.key)))),
                _count(row, old=True),
                _count(row, old=False),
                Text(label, style=style),
            )
        self._print_table(table)
        # Say what a value counts wherever it is not simply per run.
        units = {row.per for row in rows}
        if units != {PER_RUN}:
            legend = [text for unit, text in UNIT_LEGENDS.items() if unit in units]
            self._line("; ".join(legend) + ".")

    def _verdict(self, comparison: Comparison) -> None:
        regressions = comparison.regressions()
        improvements = comparison.improvements()
        if regressions:
            self._line(
                f"Result: {plural(len(regressions), 'regression')}, "
                f"{plural(len(improvements), 'improvement')}.",
                "bold red",
            )
            fixes = comparison.fixes()
            for line in regressions:
                self._line(f"  - {line}")
                if line in fixes:
                    self._line(f"    fix: {fixes[line]}")
        elif improvements:
            self._line(
                f"Result: no regression, {plural(len(improvements), 'improvement')}.",
                "green",
            )
        else:
            self._line("Result: no change beyond noise and tolerance.", "green")
        moved = [
            (row, change)
            for row in comparison.timings
            if row.verdict == TOO_FEW and (change := _moved_unjudged(row)) is not None
        ]
        if moved:
            # "No change" must not read as "unchanged": a view twice as slow
            # over one request each is not judged, and cannot fail the gate.
            names = ", ".join(
                f"{row.key.kind} {row.key.name} ({relative_change(change)})"
                for row, change in moved[:3]
            )
            more = f" and {len(moved) - 3} more" if len(moved) > 3 else ""
            self._line(
                "Changed beyond the tolerance but not judged (too few samples): "
                f"{names}{more}. A timing with too few samples cannot fail a "
                "gate; to gate one, compare repeated runs or set a time budget "
                "in a test (assert_max_duration)."
            )


def count_verdict(row: CountRow) -> tuple[str, str]:
    """Return a count row's verdict as printed, and its style.

    A row in one report only is a fixed or a new N+1 finding, judged; any
    other row there (an endpoint, a scenario) is shown but not judged.
    """
    verdict = row.verdict
    if verdict in (ONLY_OLD, ONLY_NEW):
        if row.key.kind == N_PLUS_ONE:
            if verdict == ONLY_OLD:
                return FIXED_N_PLUS_ONE, VERDICT_STYLES["fewer"]
            return NEW_N_PLUS_ONE, VERDICT_STYLES["more"]
        return f"{verdict}, {NOT_JUDGED}", ""
    if verdict == SAME and row.moved:
        return f"{verdict} (line moved)", ""
    return verdict, VERDICT_STYLES.get(verdict, "")


def all_the_same(rows: list[CountRow], different_work: str | None) -> str:
    """Return what a comparison none of whose counts changed says of them.

    A total over different work (``different_work`` says how) is not
    compared, so it is named apart with the reason instead of counted as
    the same.
    """
    skipped = [row for row in rows if row.not_compared]
    if not skipped:
        return f"{_every(len(rows), 'count')} the same."
    whole = any(row.key == (QUERIES, ALL_QUERIES) for row in skipped)
    others = len(skipped) - whole
    names = ["the whole report's total"] if whole else []
    if others:
        names.append(plural(others, "other total" if whole else "total"))
    not_compared = f"{' and '.join(names)} not compared: {different_work}."
    compared = len(rows) - len(skipped)
    if not compared:
        return not_compared
    return f"{_every(compared, 'compared count')} the same; {not_compared}"


def _every(count: int, noun: str) -> str:
    # "all 1 count" reads oddly.
    return f"the one {noun}" if count == 1 else f"all {plural(count, noun)}"


def _statistic(change: TimingChange | None) -> Text:
    """Return old -> new and the change: on a narrow screen the change wraps."""
    if change is None:
        return Text("-")
    return Text.assemble(_values(change), " ", _change(change))


def _values(change: TimingChange | None) -> str:
    # "3.4 -> 3.7 ms": one unit when both share it, to fit 80 columns.
    return "-" if change is None else timing_values(change)


def _change(change: TimingChange | None) -> Text:
    if change is None:
        return Text("-")
    label = relative_change(change)
    if change.too_few:
        # Shown, but not judged: too few samples behind it.
        label = f"({label})"
    return Text(label, style=VERDICT_STYLES.get(change.verdict, ""))


def _moved_unjudged(row: TimingRow) -> TimingChange | None:
    """Return the row's first statistic that moved beyond tolerance and noise."""
    for change in (row.median, row.p95):
        if change is not None and change.beyond_tolerance and change.beyond_noise:
            return change
    return None


def _too_few(row: TimingRow) -> bool:
    return any(c is not None and c.too_few for c in (row.median, row.p95))


def _row_verdict(row: TimingRow) -> Text:
    """Return the verdict with its reason: which statistics, or what hid them."""
    verdict = row.verdict
    changes = {"median": row.median, "p95": row.p95}
    if verdict == TOO_FEW:
        samples = min(c.samples for c in changes.values() if c)
        label = f"too few {SAMPLE_UNITS[row.key.kind]} ({samples})"
    elif verdict in (SLOWER, FASTER):
        which = [name for name, c in changes.items() if c and c.verdict == verdict]
        label = f"{verdict} ({', '.join(which)})"
    elif verdict == UNCHANGED:
        reasons = []
        noise = [c.noise_s for c in changes.values() if c and not c.beyond_noise]
        if noise:
            reasons.append(f"spread {format_duration(max(n or 0.0 for n in noise))}")
        if any(
            c and not c.too_few and not c.beyond_tolerance for c in changes.values()
        ):
            tolerance = row.median.tolerance if row.median else 0.0
            reasons.append(f"within {format_tolerance(tolerance)}")
        reasons += [f"{name} too few" for name, c in changes.items() if c and c.too_few]
        label = f"{verdict} ({', '.join(reasons)})" if reasons else verdict
    elif verdict in (ONLY_OLD, ONLY_NEW):
        label = f"{verdict}, {NOT_JUDGED}"
    else:
        label = verdict
    return Text(label, style=VERDICT_STYLES.get(verdict, ""))


def _count(row: CountRow, *, old: bool) -> str:
    value = row.old if old else row.new
    return "-" if value is None else str(value)
