"""Test that slow recursive CTEs are told what fits what ends their recursion."""

from __future__ import annotations

import time

import pytest

from perfprobe.db.fingerprint import fingerprint
from perfprobe.report.recursion import is_recursive, read_recursion

from .report_factories import fired, make_collector, query

# The fresh-user trial's /stats/ view: bounded by its own WHERE, counted.
BOUNDED = (
    "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM cnt "
    "WHERE x < %s) SELECT count(*) FROM cnt"
)
# The demo's runaway query (apps/shop/timeouts.py), odd spacing and case.
UNBOUNDED_COUNTED = (
    "with  Recursive\n counter(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL "
    "SELECT n + 1 FROM counter) SELECT COUNT(*) FROM counter"
)
UNBOUNDED_LISTED = (
    "WITH\tRECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq) "
    "SELECT n FROM seq"
)
TREE = (
    'WITH RECURSIVE tree(id) AS (SELECT "id" FROM "shop_category" WHERE "id" = %s '
    'UNION ALL SELECT c."id" FROM "shop_category" c JOIN tree t '
    'ON c."parent_id" = t."id") SELECT * FROM tree'
)


def _advice(sql: str) -> str:
    collector = make_collector()
    collector.record_query(query(fingerprint(sql), 1.4, sql=sql), None)
    (rec,) = fired(collector, "slow-query")
    return rec.suggestion


def test_a_bounded_recursion_is_not_told_to_add_a_stopping_condition() -> None:
    """Its WHERE already ends it, and a LIMIT on count(*) would not help."""
    text = _advice(BOUNDED)

    assert "already stops at 'WHERE x < %s'" in text
    assert "check the value the bound is given" in text
    assert "stopping condition" not in text
    assert "LIMIT" not in text


def test_an_unbounded_counted_recursion_is_told_a_limit_would_not_stop_it() -> None:
    """Odd spacing and case still read as WITH RECURSIVE; count(*) reads all."""
    text = _advice(UNBOUNDED_COUNTED)

    assert "give it a stopping condition" in text
    assert "a LIMIT on the outer query would not stop it" in text
    assert "cap the rows" not in text
    assert "add an index" not in text


def test_an_unbounded_listed_recursion_may_be_capped_by_a_limit() -> None:
    """An outer query that reads rows one by one stops at a LIMIT."""
    text = _advice(UNBOUNDED_LISTED)

    assert "give it a stopping condition" in text
    assert "cap the rows the outer query takes (LIMIT)" in text


def test_a_tree_walk_is_told_to_index_the_table_each_step_reads() -> None:
    """A walk over another table's rows ends with the data: each step is a join."""
    text = _advice(TREE)

    assert "each step of its recursive part reads shop_category" in text
    assert "run EXPLAIN QUERY PLAN on it" in text
    assert "index the columns the recursive part joins and filters on" in text
    assert "give it a stopping condition" not in text


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("WITH RECURSIVE c AS (SELECT 1) SELECT 1", True),
        ("(  with\n\trecursive c AS (SELECT 1) SELECT 1)", True),
        ("WITH RECURSIVELY AS (SELECT 1) SELECT 1", False),
        ("WITH c AS (SELECT 1) SELECT 1", False),
        ("SELECT 'WITH RECURSIVE'", False),
    ],
)
def test_with_recursive_is_recognised_whatever_the_spacing(
    sql: str, expected: bool
) -> None:
    """Any whitespace and case between the keywords; not a prefix of a word."""
    assert is_recursive(sql) is expected


def test_the_recursive_member_is_read_past_other_ctes_and_subqueries() -> None:
    """The self-referencing CTE is found after a plain one; its bound is its own."""
    recursion = read_recursion(
        "WITH RECURSIVE a AS (SELECT 1 WHERE 1 = 1), b(n) AS (SELECT 1 UNION "
        "SELECT n + (SELECT max(x) FROM t WHERE x > 0) FROM b WHERE n < 9) "
        "SELECT n FROM b"
    )

    assert recursion is not None
    assert (recursion.name, recursion.bound, recursion.tables) == (
        "b",
        "WHERE n < 9",
        (),
    )
    assert recursion.outer_reads_all is False
    assert read_recursion("WITH RECURSIVE broken(") is None


def test_comments_in_hand_written_sql_are_not_read_as_sql() -> None:
    """A keyword, quote or parenthesis in a comment changes nothing read."""
    unbounded = _advice(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t "
        "-- no WHERE here, so it can't stop :)\n"
        ") /* (ORDER BY */ SELECT n FROM t -- count(*) later\nLIMIT %s"
    )
    bounded = read_recursion(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL /* UNION SELECT 2 */ "
        "SELECT n + 1 FROM t WHERE n < %s -- depth :)\n) SELECT n FROM t"
    )

    assert "already stops" not in unbounded
    assert "give it a stopping condition" in unbounded
    assert "cap the rows the outer query takes (LIMIT)" in unbounded
    assert bounded is not None
    assert bounded.bound == "WHERE n < %s"


def test_a_quoted_keyword_in_the_outer_query_is_not_read_as_one() -> None:
    """A string or quoted name that spells ORDER BY does not read every row."""
    recursion = read_recursion(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
        "SELECT n AS \"order by\" FROM t WHERE n <> 'count(x)' LIMIT 5"
    )

    assert recursion is not None
    assert recursion.outer_reads_all is False


def test_unclosed_brackets_are_read_in_linear_time() -> None:
    """100 KB of "[" once took seconds: each rescanned the rest for a "]"."""
    sql = "WITH RECURSIVE t AS (SELECT 1 UNION SELECT n FROM t " + "[" * 100_000 + ")"

    started = time.perf_counter()
    recursion = read_recursion(sql)
    elapsed_s = time.perf_counter() - started

    assert recursion is not None
    assert recursion.name == "t"
    # Linear: about 30 ms here; quadratic took 10 s.
    assert elapsed_s < 1.0


def test_the_tables_each_step_reads_are_named_whole_and_once() -> None:
    """A schema-qualified table is the table, not its schema; a self-join one."""
    recursion = read_recursion(
        "WITH RECURSIVE tree(id) AS (SELECT 1 UNION ALL SELECT n.id "
        "FROM ONLY public.node n JOIN tree t ON n.parent_id = t.id "
        'JOIN "public"."node" m ON m.id = n.id JOIN LATERAL shop.tag g ON true) '
        "SELECT * FROM tree"
    )

    assert recursion is not None
    assert recursion.tables == ("public.node", "shop.tag")


def test_a_long_bound_and_many_tables_are_cut_in_the_advice() -> None:
    """A 2,000-condition WHERE and 50 joined tables do not fill the suggestion."""
    conditions = " AND ".join(f"c{i} < %s" for i in range(2000))
    joins = " ".join(f"JOIN t{i} ON t{i}.id = tree.id" for i in range(50))
    bounded = _advice(
        "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt "
        f"WHERE {conditions}) SELECT x FROM cnt"
    )
    tree = _advice(
        "WITH RECURSIVE tree(id) AS (SELECT 1 UNION ALL SELECT n.id FROM node n "
        f"JOIN tree ON n.parent_id = tree.id {joins}) SELECT id FROM tree"
    )

    assert "already stops at 'WHERE c0 < %s AND c1 < %s" in bounded
    assert len(bounded) < 1000
    assert "reads node, t0, t1 and 48 more tables" in tree
    assert len(tree) < 1000


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("/* report: tree */ WITH RECURSIVE c AS (SELECT 1) SELECT 1", True),
        ("-- a tree\n  with recursive c AS (SELECT 1) SELECT 1", True),
        ("/* WITH RECURSIVE */ SELECT 1", False),
        ("-- WITH RECURSIVE\nSELECT 1", False),
    ],
)
def test_leading_comments_are_passed_over(sql: str, expected: bool) -> None:
    """A comment before WITH RECURSIVE hides nothing; one holding it is no query."""
    assert is_recursive(sql) is expected
