"""Test matching N+1 findings across reports whose lines moved."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from perfprobe.compare import compare_reports, report_from_data, run_record
from perfprobe.compare.comparison import Comparison
from perfprobe.compare.counts import ONLY_OLD
from perfprobe.compare.figures import N_PLUS_ONE
from perfprobe.compare.render import count_verdict

from .compare_factories import compare_files, report, run
from .report_factories import build, make_collector, n_plus_one_queries, run_scope

SQL = 'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."id" = ?'
VIEWS = "shop/views.py"


def _site(line: int) -> str:
    return f"{VIEWS}:{line}"


def _report(findings: dict[int, tuple[str | None, list[int]]], **kw: Any) -> Any:
    """A single-run report: line -> (relation, queries in each scope)."""
    return report(
        run(
            n_plus_one={
                (SQL, _site(line)): scopes for line, (_, scopes) in findings.items()
            },
            relations={(SQL, _site(line)): rel for line, (rel, _) in findings.items()},
            **kw,
        )
    )


def _in_views(findings: dict[int, tuple[str | None, list[int]]]) -> Any:
    """A single-run report of Book.author: line -> (function, queries per scope)."""
    sites = {(SQL, _site(line)): function for line, (function, _) in findings.items()}
    return report(
        run(
            n_plus_one={
                (SQL, _site(line)): scopes for line, (_, scopes) in findings.items()
            },
            relations=dict.fromkeys(sites, "Book.author"),
            functions=sites,
        )
    )


def _compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    return compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=0.1,
    )


def _n_plus_one_rows(comparison: Comparison) -> list[tuple[str, str, str, str]]:
    return [
        (row.key.name.removesuffix(f": {SQL}"), str(row.old), str(row.new), row.verdict)
        for row in comparison.counts
        if row.key.kind == N_PLUS_ONE
    ]


def test_a_comment_above_the_loop_leaves_the_finding_unchanged(
    tmp_path: Path,
) -> None:
    """The fresh user's case: Book.author at line 11, then 13; 20 per scope.

    One finding, compared as one: no "only in old", no "only in new", and
    the gate passes with a note naming the move.
    """
    old = _report({11: ("Book.author", [20] * 10)})
    new = _report({13: ("Book.author", [20] * 10)})

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [(f"{VIEWS}:11 -> 13", "20", "20", "same")]
    assert comparison.regressions() == [] and comparison.improvements() == []
    assert comparison.notes == [
        "N+1 finding shop/views.py:11 -> 13 (Book.author) is one finding whose "
        "line moved (the same file, query and relation): compared as one."
    ]
    output = compare_files(tmp_path, old, new, "--fail-on", "regression")
    assert "Gate passed (--fail-on regression)." in output


def test_a_moved_finding_that_grew_is_named_with_both_lines() -> None:
    """20 queries per scope at line 11 become 25 at line 13: more, a regression."""
    comparison = _compare(
        _report({11: ("Book.author", [20])}), _report({13: ("Book.author", [25])})
    )

    assert _n_plus_one_rows(comparison) == [(f"{VIEWS}:11 -> 13", "20", "25", "more")]
    assert comparison.regressions() == [
        f"{VIEWS}:11 -> 13: {SQL}: 20 -> 25 N+1 queries/scope"
    ]


def test_two_findings_of_one_query_match_by_their_relation() -> None:
    """A lazy load (Book.author) and an explicit get of the same query.

    The get's loop moved above the lazy load's (line 20 -> 5, 11 -> 25): by
    line order alone 11 would pair with 5; the relation pairs 11 with 25.
    The get grew from 10 to 12 per scope; the lazy load stayed at 20.
    """
    old = _report({11: ("Book.author", [20]), 20: (None, [10])})
    new = _report({5: (None, [12]), 25: ("Book.author", [20])})

    rows = _n_plus_one_rows(_compare(old, new))

    assert sorted(rows) == [
        (f"{VIEWS}:11 -> 25", "20", "20", "same"),
        (f"{VIEWS}:20 -> 5", "10", "12", "more"),
    ]


def test_findings_of_one_query_and_relation_match_in_line_order() -> None:
    """Two loops at 11 and 13 move to 13 and 15 (two lines added above).

    Matching the same line first would pair old 13 (5 per scope) with new
    13 (20) and call it more; in line order 11 -> 13 and 13 -> 15 match and
    nothing changed.
    """
    old = _report({11: ("Book.author", [20]), 13: ("Book.author", [5])})
    new = _report({13: ("Book.author", [20]), 15: ("Book.author", [5])})

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [
        (f"{VIEWS}:11 -> 13", "20", "20", "same"),
        (f"{VIEWS}:13 -> 15", "5", "5", "same"),
    ]
    assert comparison.regressions() == []


def test_with_fewer_findings_the_least_moved_ones_match() -> None:
    """Loops at 11 and 20; the one at 11 fixed, the one at 20 now at 22.

    Pairing 22 with 20 moves 2 lines, with 11 moves 11: the loop at 11 is
    the one gone, an improvement, and nothing is new.
    """
    old = _report({11: ("Book.author", [20]), 20: ("Book.author", [5])})
    new = _report({22: ("Book.author", [5])})

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [
        (f"{VIEWS}:11", "20", "None", ONLY_OLD),
        (f"{VIEWS}:20 -> 22", "5", "5", "same"),
    ]
    assert comparison.regressions() == []
    assert comparison.improvements() == [f"N+1 finding gone at {VIEWS}:11: {SQL}"]


def test_records_without_relations_match_by_file_and_query() -> None:
    """An old record that lacks lazy_load still matches the moved finding."""
    old = report(run(n_plus_one={(SQL, _site(11)): 20}))
    new = _report({13: ("Book.author", [20])})

    assert _n_plus_one_rows(_compare(old, new)) == [
        (f"{VIEWS}:11 -> 13", "20", "20", "same")
    ]


def test_a_different_relation_is_a_different_finding() -> None:
    """Book.author replaced by Book.publisher on the same query: gone and new."""
    comparison = _compare(
        _report({11: ("Book.author", [20])}), _report({11: ("Book.publisher", [20])})
    )

    assert _n_plus_one_rows(comparison) == [
        (f"{VIEWS}:11 (Book.author)", "20", "None", "only in old"),
        (f"{VIEWS}:11 (Book.publisher)", "None", "20", "only in new"),
    ]
    assert comparison.regressions() == [
        f"new N+1 finding at {VIEWS}:11 (Book.publisher): {SQL}"
    ]


def test_run_records_keep_the_relation_of_each_finding() -> None:
    """--repeat records say "Book.author", null for none, nothing when unknown."""
    body = _report({11: ("Book.author", [20]), 20: (None, [10])})
    body["n_plus_one"]["aggregated"].append(
        {"fingerprint": "SELECT 1", "call_site": None, "count": 5}
    )

    findings = run_record(body)["n_plus_one"]

    assert [finding.get("lazy_load", "absent") for finding in findings] == [
        "Book.author",
        None,
        "absent",
    ]


def test_a_relation_seen_in_some_runs_of_a_repeat_report_is_its_relation() -> None:
    """The last of --repeat 2 saw no lazy load at line 13: Book.author still holds.

    Within one run a finding takes the relation any of its queries had;
    across runs likewise, whichever run comes last. Moved from 11 to 13,
    it is one finding, not one gone and one new.
    """
    old = _report({11: ("Book.author", [20])})
    new = report(
        *(
            run(
                n_plus_one={(SQL, _site(13)): [20]},
                relations={(SQL, _site(13)): relation},
            )
            for relation in ("Book.author", None)
        )
    )

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [(f"{VIEWS}:11 -> 13", "20", "20", "same")]
    assert comparison.query_regressions() == []


def test_a_call_site_with_a_line_too_long_to_be_one_is_all_file() -> None:
    """A 5,000-digit "line" once raised ValueError (int()'s digit limit)."""
    hostile = f"{VIEWS}:" + "1" * 5000
    old = report(run(n_plus_one={(SQL, hostile): 5}, relations={(SQL, hostile): None}))
    new = _report({13: (None, [5])})

    comparison = _compare(old, new)

    rows = {name[-20:]: verdict for name, _, _, verdict in _n_plus_one_rows(comparison)}
    assert rows == {"1" * 20: "only in old", f"{VIEWS}:13": "only in new"}


def test_a_fix_in_one_view_and_a_new_loop_in_another_are_gone_and_new(
    tmp_path: Path,
) -> None:
    """The new user's case: view_a's Book.author loop at line 17 is fixed while
    view_b, in the same file, gains one at line 9.

    Same file, query and relation, but another function: one finding gone
    (fixed) and one new (a regression), not one that moved from 17 to 9.
    """
    old = _in_views({17: ("view_a", [20])})
    new = _in_views({9: ("view_b", [20])})

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [
        (f"{VIEWS}:17", "20", "None", "only in old"),
        (f"{VIEWS}:9", "None", "20", "only in new"),
    ]
    verdicts = [count_verdict(row)[0] for row in comparison.changed_counts()]
    assert verdicts == ["gone: fixed", "new finding"]
    assert comparison.regressions() == [f"new N+1 finding at {VIEWS}:9: {SQL}"]
    assert comparison.improvements() == [f"N+1 finding gone at {VIEWS}:17: {SQL}"]
    assert comparison.notes == []
    with pytest.raises(CommandError, match=re.escape(f"new N+1 finding at {VIEWS}:9")):
        compare_files(tmp_path, old, new, "--fail-on", "regression")


def test_a_finding_that_moved_within_its_function_is_the_same(tmp_path: Path) -> None:
    """view_a's loop moves from line 11 to 13 (a comment added): same (line moved)."""
    old = _in_views({11: ("view_a", [20])})
    new = _in_views({13: ("view_a", [20])})

    comparison = _compare(old, new)

    assert _n_plus_one_rows(comparison) == [(f"{VIEWS}:11 -> 13", "20", "20", "same")]
    (row,) = comparison.changed_counts()
    assert count_verdict(row)[0] == "same (line moved)"
    assert comparison.notes == [
        "N+1 finding shop/views.py:11 -> 13 (Book.author) is one finding whose "
        "line moved (the same file, function view_a, query and relation): "
        "compared as one."
    ]
    assert comparison.regressions() == [] and comparison.improvements() == []
    output = compare_files(tmp_path, old, new, "--fail-on", "regression")
    assert "Gate passed (--fail-on regression)." in output


def test_functions_pair_findings_before_their_lines_do() -> None:
    """view_b's loop (30) moved above view_a's (11): 30 -> 5 and 11 -> 40.

    By line order alone 11 would pair with 5 and 30 with 40; view_b also
    grew from 10 to 12 queries per scope, which only the right pairs show.
    """
    old = _in_views({11: ("view_a", [20]), 30: ("view_b", [10])})
    new = _in_views({5: ("view_b", [12]), 40: ("view_a", [20])})

    rows = _n_plus_one_rows(_compare(old, new))

    assert sorted(rows) == [
        (f"{VIEWS}:11 -> 40", "20", "20", "same"),
        (f"{VIEWS}:30 -> 5", "10", "12", "more"),
    ]


def test_findings_of_one_function_still_match_in_line_order() -> None:
    """Two loops of view_a at 11 and 13 move to 13 and 15: both the same."""
    old = _in_views({11: ("view_a", [20]), 13: ("view_a", [5])})
    new = _in_views({13: ("view_a", [20]), 15: ("view_a", [5])})

    assert _n_plus_one_rows(_compare(old, new)) == [
        (f"{VIEWS}:11 -> 13", "20", "20", "same"),
        (f"{VIEWS}:13 -> 15", "5", "5", "same"),
    ]


def test_records_without_functions_match_by_file_as_before() -> None:
    """An old report that names no function: view_a's 17 and view_b's 9 match.

    Nothing tells the functions apart, so the fix and the new loop read as
    one finding that moved, as they did before functions were kept.
    """
    old = _report({17: ("Book.author", [20])})
    new = _in_views({9: ("view_b", [20])})

    assert _n_plus_one_rows(_compare(old, new)) == [
        (f"{VIEWS}:17 -> 9", "20", "20", "same")
    ]


def test_a_function_not_read_on_one_side_matches_by_line() -> None:
    """A report whose file could not be read names no function: not gone and new.

    The same loop, named ``view_a`` in one report and without a function in
    the other (the file unreadable when that report was built), is one
    finding, matched by file, query and relation as without functions.
    """
    old = _in_views({11: ("view_a", [20])})
    new = _in_views({11: (None, [20])})

    assert _n_plus_one_rows(_compare(old, new)) == [(f"{VIEWS}:11", "20", "20", "same")]
    assert _n_plus_one_rows(_compare(new, old)) == [(f"{VIEWS}:11", "20", "20", "same")]


def test_one_line_in_two_functions_is_two_findings_named_apart() -> None:
    """Line 11 was view_a's loop and is now view_b's: gone and new, named apart."""
    comparison = _compare(
        _in_views({11: ("view_a", [20])}), _in_views({11: ("view_b", [20])})
    )

    assert _n_plus_one_rows(comparison) == [
        (f"{VIEWS}:11 (in view_a)", "20", "None", "only in old"),
        (f"{VIEWS}:11 (in view_b)", "None", "20", "only in new"),
    ]


def test_run_records_keep_the_function_of_each_finding() -> None:
    """--repeat records name the function, null when unknown, nothing if unread."""
    body = _in_views({11: ("BookList.get", [20]), 20: (None, [10])})
    body["n_plus_one"]["aggregated"].append(
        {"fingerprint": "SELECT 1", "call_site": None, "count": 5}
    )

    findings = run_record(body)["n_plus_one"]

    assert [finding.get("function", "absent") for finding in findings] == [
        "BookList.get",
        None,
        "absent",
    ]


VIEWS_BEFORE = """\
def view_b(request, books):
    return books


def view_a(request, books):
    # A loop over books, each loading its author: an N+1.
    for book in books:
        book.author  # line 8
"""
VIEWS_AFTER = """\
def view_b(request, books):
    for book in books:
        book.author  # line 3


def view_a(request, books):
    return books.select_related("author")
"""


def test_reports_built_from_two_versions_of_a_file_tell_the_views_apart(
    tmp_path: Path,
) -> None:
    """End to end: view_a's loop (line 8) fixed, view_b's (line 3) new.

    Each report reads the file as it is when built: gone and new, not 8 -> 3.
    """
    views = tmp_path / "views.py"
    built = []
    for source, line in ((VIEWS_BEFORE, 8), (VIEWS_AFTER, 3)):
        views.write_text(source, encoding="utf-8")
        collector = make_collector()
        queries = n_plus_one_queries(6, call_site=f"{views}:{line}")
        run_scope(collector, "GET /books/", queries)
        built.append(build(collector).to_dict())

    comparison = _compare(*built)

    verdicts = {
        row.key.name.partition(": ")[0]: count_verdict(row)[0]
        for row in comparison.changed_counts()
    }
    assert verdicts == {f"{views}:8": "gone: fixed", f"{views}:3": "new finding"}
