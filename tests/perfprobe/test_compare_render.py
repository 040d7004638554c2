"""Test printing a comparison (``perfprobe.compare.render``)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from rich.console import Console

from perfprobe.compare import ComparisonRenderer, compare_reports, report_from_data
from perfprobe.compare.comparison import Comparison
from perfprobe.compare.render import all_the_same, format_tolerance, noise_rule
from perfprobe.compare.stats import MIN_SAMPLES
from perfprobe.report.terminal import make_console

from .compare_factories import report, run


def _comparison(
    old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.1
) -> Comparison:
    return compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=tolerance,
    )


def _plain(comparison: Comparison) -> str:
    stream = StringIO()
    ComparisonRenderer(make_console(stream)).render(comparison)
    return stream.getvalue()


def _ops(*medians_s: float) -> dict[str, Any]:
    return report(*(run(operations={"checkout": (m, m)}) for m in medians_s))


def test_the_noise_rule_names_where_the_spread_came_from() -> None:
    """Both repeated, one repeated, or neither: each says what decides."""
    both = noise_rule(_comparison(_ops(0.1, 0.2), _ops(0.1, 0.2)))
    new_only = noise_rule(_comparison(_ops(0.1), _ops(0.1, 0.2)))
    neither = noise_rule(_comparison(_ops(0.1), _ops(0.1)))

    assert "runs of both reports" in both
    assert "runs of the new report" in new_only
    assert "Runs: old 1, new 1." in neither
    assert "only the tolerance (10%) decides" in neither


def test_the_single_run_rule_states_the_minimum_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Equal minimums are said once; different ones name each statistic.

    In a user trial "20 samples (n) for a median, 20 for a p95" read as
    repeating itself.
    """
    single = _comparison(_ops(0.1), _ops(0.1))

    assert (
        "only the tolerance (10%) decides, and a median or p95 needs 20 "
        "samples (n) on each side. Reports of repeated runs"
    ) in noise_rule(single)
    monkeypatch.setitem(MIN_SAMPLES, 0.5, 5)
    assert (
        "only the tolerance (10%) decides, and a median needs 5 samples (n) "
        "on each side, a p95 20. Reports of repeated runs"
    ) in noise_rule(single)


def test_unchanged_rows_say_why() -> None:
    """Inside the spread the row names it; inside the tolerance it says so."""
    spread = _plain(_comparison(_ops(0.1, 0.2, 0.3), _ops(0.15, 0.25, 0.35)))
    tolerance = _plain(_comparison(_ops(1.0), _ops(1.05)))

    assert "unchanged (spread 200 ms)" in spread
    assert "+25.0%" in spread
    assert "unchanged (within 10%)" in tolerance


def test_plain_output_has_no_escape_sequences_and_a_result_line() -> None:
    """Off a terminal the comparison is plain text ending with the result."""
    output = _plain(_comparison(_ops(0.1), _ops(0.3)))

    assert "\x1b[" not in output
    assert output.rstrip().splitlines()[-2:] == [
        "Result: 1 regression, 0 improvements.",
        "  - operation checkout is slower: median 100 -> 300 ms (+200.0%), "
        "p95 100 -> 300 ms (+200.0%)",
    ]


def test_plain_output_follows_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS=300 keeps a 150-character operation name on one line; 120 wraps it."""
    name = "nightly-import-" + "x" * 135
    comparison = _comparison(
        report(run(operations={name: (0.1, 0.1)})),
        report(run(operations={name: (0.3, 0.3)})),
    )
    monkeypatch.delenv("COLUMNS", raising=False)
    unset = _plain(comparison)
    monkeypatch.setenv("COLUMNS", "300")
    wide = _plain(comparison)

    assert len(name) == 150
    assert max(len(line) for line in unset.splitlines()) <= 120
    assert name not in unset
    assert name in wide
    assert 150 < max(len(line) for line in wide.splitlines()) <= 300


def test_control_characters_in_names_are_escaped() -> None:
    """A recorded name cannot drive the reader's terminal."""
    old = report(run(operations={"evil\x1b[2J": (0.1, 0.1)}))
    output = _plain(_comparison(old, old))
    assert "\x1b" not in output
    assert "evil\\x1b[2J" in output


def test_a_terminal_gets_colour() -> None:
    """On a terminal, a slower verdict is printed in colour."""
    stream = StringIO()
    console = Console(file=stream, force_terminal=True, width=160)
    ComparisonRenderer(console).render(_comparison(_ops(0.1), _ops(0.3)))
    assert "\x1b[" in stream.getvalue()


def test_format_tolerance_keeps_decimals() -> None:
    """0.025 is 2.5 %, not a rounded 2 % or 3 %."""
    assert format_tolerance(0.025) == "2.5%"
    assert format_tolerance(0.1) == "10%"


MARKUP_NAMES = [
    "[/bold] closes nothing",
    "[link=https://evil.example]x[/link]",
    "[red]",
]


def test_rich_markup_injection_names_print_as_written() -> None:
    """Names that look like rich markup print literally in every table, with colour.

    Read as markup, "[/bold]" raised MarkupError and "[link=...]" wrote a
    hyperlink into the terminal.
    """
    old = run(
        scenarios={name: (0.1, 1) for name in MARKUP_NAMES},
        operations={name: (0.1, 0.2) for name in MARKUP_NAMES},
        n_plus_one={(name, name): 1 for name in MARKUP_NAMES},
    )
    new = run(
        scenarios={name: (0.5, 2) for name in MARKUP_NAMES},
        operations={name: (0.5, 0.9) for name in MARKUP_NAMES},
        n_plus_one={(name, name): 3 for name in MARKUP_NAMES},
    )
    comparison = _comparison(report(old), report(new))
    stream = StringIO()
    ComparisonRenderer(Console(file=stream, force_terminal=True, width=300)).render(
        comparison
    )
    text = stream.getvalue()
    for name in MARKUP_NAMES:
        assert name in text
        assert name in _plain(comparison)
    # No OSC 8 hyperlink was written.
    assert "\x1b]8;" not in text


def test_an_n_plus_one_row_keeps_its_table_and_where_in_sight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lazy load's two-column SELECT list goes before its table does.

    Cut at 90 characters as written, the row read ``shop/views.py:15:
    SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHER…``.
    """
    monkeypatch.setenv("COLUMNS", "200")
    lazy = (
        'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" '
        'WHERE "shop_author"."id" = ? LIMIT ?'
    )
    comparison = _comparison(
        report(run(n_plus_one={(lazy, "shop/views.py:15"): 16})), report(run())
    )
    output = _plain(comparison)
    where = 'WHERE "shop_author"."id" = '
    shown = f'shop/views.py:15: SELECT … FROM "shop_author" {where}'

    assert f"{shown}\n" in output or f"{shown}? LIMIT ?" in output
    assert "gone: fixed" in output
    # The result's lines (and so the gate's message) keep a query of this
    # length whole, and shorten a long column list as the table does.
    assert comparison.improvements() == [
        f"N+1 finding gone at shop/views.py:15: {lazy}"
    ]
    columns = ", ".join(f'"shop_author"."c{i}"' for i in range(12))
    wide = lazy.replace('"shop_author"."id", "shop_author"."name"', columns)
    backwards = _comparison(
        report(run()), report(run(n_plus_one={(wide, "shop/views.py:15"): 16}))
    )
    assert len(wide) > 300
    assert backwards.query_regressions() == [f"new N+1 finding at {shown}? LIMIT ?"]


def test_an_n_plus_one_regression_is_followed_by_the_new_reports_fix() -> None:
    """A new N+1 finding and one grown per scope each print their fix.

    In a user trial the gate named the new finding by line and query only;
    what to change was in the new report's recommendation, not in the CI log.
    """
    count_sql = 'SELECT COUNT(*) AS "__count" FROM "book" WHERE "book"."author_id" = ?'
    author_sql = 'SELECT "author"."id" FROM "author" WHERE "author"."id" = ? LIMIT ?'
    old = report(run(n_plus_one={(author_sql, "library/views.py:10"): 6}))
    new = report(
        run(
            n_plus_one={
                (author_sql, "library/views.py:10"): 8,
                (count_sql, "library/views.py:35"): 6,
            }
        )
    )

    def recommendation(sql: str, site: str, fix: str) -> dict[str, Any]:
        evidence = {"fingerprint": sql, "call_site": site, "count": 6}
        return {
            "rule_id": "n-plus-one",
            "severity": "warning",
            "title": f"N+1 queries at {site}",
            "evidence": evidence,
            "suggestion": fix,
        }

    new["recommendations"] = [
        recommendation(count_sql, "library/views.py:35", "Annotate the Authors."),
        recommendation(author_sql, "library/views.py:10", 'Add select_related("a").'),
        # Another rule's suggestion about the same query is not an N+1 fix.
        {**recommendation(count_sql, "library/views.py:35", "x"), "rule_id": "dup"},
    ]

    lines = _plain(_comparison(old, new)).rstrip().splitlines()

    result = lines.index("Result: 2 regressions, 0 improvements.")
    assert lines[result + 1 :] == [
        f"  - library/views.py:10: {author_sql}: 6 -> 8 N+1 queries/scope",
        '    fix: Add select_related("a").',
        '  - new N+1 finding at library/views.py:35: SELECT COUNT(*) AS "__count" '
        'FROM "book" WHERE "book"."author_id" = ?',
        "    fix: Annotate the Authors.",
    ]
    # Without recommendations in the new report, nothing is added.
    del new["recommendations"][:2]
    assert "fix:" not in _plain(_comparison(old, new))


def test_timings_too_few_to_judge_are_named_after_the_result() -> None:
    """A view twice as slow over one request each is said not to be judged.

    In a user trial two pytest session reports, GET /slow/ 300 -> 600 ms,
    ended with "Result: no change beyond noise and tolerance." alone. Rows
    that moved within the tolerance (here /e5/, +5 %) are not listed.
    """
    old_s = {f"GET /e{i}/": 0.3 for i in range(6)}
    new_s = {**{f"GET /e{i}/": 0.3 * (2 + i) for i in range(5)}, "GET /e5/": 0.315}
    old = report(run(endpoints={n: (s, s, 0) for n, s in old_s.items()}))
    new = report(run(endpoints={n: (s, s, 0) for n, s in new_s.items()}))

    lines = _plain(_comparison(old, new)).rstrip().splitlines()

    result = lines.index("Result: no change beyond noise and tolerance.")
    assert " ".join(lines[result + 1 :]) == (
        "Changed beyond the tolerance but not judged (too few samples): "
        "endpoint GET /e0/ (+100.0%), endpoint GET /e1/ (+200.0%), endpoint "
        "GET /e2/ (+300.0%) and 2 more. A timing with too few samples cannot "
        "fail a gate; to gate one, compare repeated runs or set a time budget "
        "in a test (assert_max_duration)."
    )
    # Judged rows, and unjudged ones within the tolerance, add nothing.
    assert "but not judged" not in _plain(_comparison(_ops(0.1), _ops(0.3)))
    assert "but not judged" not in _plain(_comparison(old, old))


def test_a_moved_n_plus_one_that_grew_keeps_its_fix() -> None:
    """A finding matched across a moved line is looked up at its new line."""
    sql = 'SELECT "author"."id" FROM "author" WHERE "author"."id" = ? LIMIT ?'
    old = report(run(n_plus_one={(sql, "library/views.py:10"): 6}))
    new = report(run(n_plus_one={(sql, "library/views.py:12"): 8}))
    new["recommendations"] = [
        {
            "rule_id": "n-plus-one",
            "severity": "warning",
            "evidence": {"fingerprint": sql, "call_site": "library/views.py:12"},
            "suggestion": 'Add select_related("author").',
        }
    ]

    comparison = _comparison(old, new)

    (line,) = comparison.regressions()
    assert line.startswith("library/views.py:10 -> 12: ")
    assert comparison.fixes() == {line: 'Add select_related("author").'}


def test_a_fix_read_from_the_file_is_shortened() -> None:
    """A hand-edited suggestion of 5,000 characters is shown in at most 1,000."""
    sql = 'SELECT "author"."id" FROM "author" WHERE "author"."id" = ?'
    old = report(run())
    new = report(run(n_plus_one={(sql, "v.py:3"): 6}))
    new["recommendations"] = [
        {
            "rule_id": "n-plus-one",
            "severity": "warning",
            "evidence": {"fingerprint": sql, "call_site": "v.py:3"},
            "suggestion": "word " * 1000,
        }
    ]

    (fix,) = _comparison(old, new).fixes().values()

    assert len(fix) == 1000
    assert fix.startswith("word word ")


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "terminal"])
def test_a_narrow_table_breaks_a_name_between_its_words(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """At 60 columns a name wraps at its spaces while its longest word fits.

    rich narrowed the Name column to the 10 characters of the columns
    beside it, whatever they held, and printed "send order confirmati" /
    "on emails" with room to spare in the Verdict column.
    """
    monkeypatch.setenv("COLUMNS", "60")
    name = "send order confirmation emails"
    comparison = _comparison(
        report(run(operations={name: (0.1, 0.2), "checkout": (0.1, 0.2)})),
        report(run(operations={name: (0.3, 0.5), "checkout": (0.3, 0.5)})),
    )
    if terminal:
        stream = StringIO()
        console = Console(file=stream, force_terminal=True, color_system=None, width=60)
        ComparisonRenderer(console).render(comparison)
        output = stream.getvalue()
    else:
        output = _plain(comparison)
    lines = [line.rstrip() for line in output.splitlines()]
    start = lines.index("Operations") + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("Median, p95:"))
    table = lines[start:end]

    assert any("confirmation" in line for line in table), "\n".join(table)
    assert all(len(line) <= 60 for line in table)
    if not terminal:
        assert len({len(line) for line in table}) == 1, "\n".join(table)


@pytest.mark.parametrize("width", [24, 25])
def test_a_name_of_wide_characters_stays_in_a_narrow_table(width: int) -> None:
    """A name of characters two cells wide is shown on a narrow terminal.

    Its column was narrowed to one cell, and rich leaves a character wider
    than its column out: at 24 and 25 columns the name was not shown at all.
    """
    name = "注文確認メールを送信する"
    comparison = _comparison(
        report(run(operations={name: (0.1, 0.2)})),
        report(run(operations={name: (0.3, 0.5)})),
    )
    stream = StringIO()
    console = Console(file=stream, force_terminal=True, color_system=None, width=width)
    ComparisonRenderer(console).render(comparison)
    table = stream.getvalue().split("Median, p95:")[0]

    assert "".join(char for char in table if char in name) == name, table


def _counts_line(output: str) -> str:
    """Return the line after the timings legend: the counts and any notes."""
    text = " ".join(output.split())
    return text.split("Query counts, failed runs and N+1 findings: ")[1]


def test_a_total_not_compared_is_not_counted_as_the_same() -> None:
    """Reports of different seeds with equal totals: 4 counts compared, 1 not.

    In a user trial two demo reports of seeds 7 and 42 read "all 18 counts
    the same", the whole report's total among them, which is not compared
    across different work.
    """
    scenarios = {"checkout": (0.1, 30), "search": (0.1, 20)}
    old = report(run(scenarios=scenarios, queries=50), seed=7)
    new = report(run(scenarios=scenarios, queries=50), seed=42)

    line = _counts_line(_plain(_comparison(old, new)))

    assert line.startswith(
        "all 4 compared counts the same; the whole report's total not compared: "
        "they were made from different seeds. Result:"
    ), line
    # Over the same work every count is compared, as before.
    same = _counts_line(_plain(_comparison(old, {**old})))
    assert same.startswith("all 5 counts the same. Result:"), same


def test_per_run_totals_of_an_older_report_not_compared_are_named() -> None:
    """An older report's endpoint totals over other work are not "the same".

    Without a per-request range the endpoint falls back to its per-run
    total, which two different seeds do not make comparable either.
    """
    endpoints = {"GET /a/": (0.1, 0.1, 3), "GET /b/": (0.1, 0.1, 2)}
    scenarios = {"checkout": (0.1, 5)}
    old = report(
        run(scenarios=scenarios, endpoints=endpoints, queries=5, legacy=True), seed=1
    )
    new = report(run(scenarios=scenarios, endpoints=endpoints, queries=5), seed=2)

    line = _counts_line(_plain(_comparison(old, new)))

    assert line.startswith(
        "all 2 compared counts the same; the whole report's total and 2 other "
        "totals not compared: they were made from different seeds. Note:"
    ), line


def test_a_single_count_the_same_is_not_all_one() -> None:
    """One count, unchanged: "the one count", not "all 1 count"."""
    old = report(run(scenarios={"checkout": (0.1, 30)}))
    rows = _comparison(old, {**old}).counts

    assert all_the_same(rows[:1], None) == "the one count the same."
    assert all_the_same(rows[:2], None) == "all 2 counts the same."
