"""Tests for perfprobe.db.fingerprint: literals, placeholders, lists, comments."""

from __future__ import annotations

import pytest

from perfprobe.db.fingerprint import cache_clear, cache_size, fingerprint


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT ?"),
        ("SELECT * FROM t WHERE name = 'bob'", "SELECT * FROM t WHERE name = ?"),
        ("SELECT 'it''s'", "SELECT ?"),
        ("SELECT ''", "SELECT ?"),
        ("SELECT N'x', X'1F', E'a\\'b'", "SELECT ?, ?, ?"),
        ("SELECT $$it's$$, $q$x$q$", "SELECT ?, ?"),
        ("SELECT 42, 4.2, .5, 5., 1e3, 2.5E-3, 0xFF", "SELECT ?, ?, ?, ?, ?, ?, ?"),
        ("WHERE a = -1 AND b = - 2.5", "WHERE a = ? AND b = ?"),
        ("WHERE a IN (-1, 2)", "WHERE a IN (...)"),
        ("SELECT a - 1, x-1, (-2) FROM t", "SELECT a - ?, x-?, (?) FROM t"),
        ("LIMIT 21 OFFSET -3", "LIMIT ? OFFSET ?"),
        ("WHERE a = %s AND b = %(name)s", "WHERE a = ? AND b = ?"),
        (
            "WHERE a = ? AND b = :name AND c = $1 AND d = :1",
            "WHERE a = ? AND b = ? AND c = ? AND d = ?",
        ),
        ("SELECT x::int FROM t", "SELECT x::int FROM t"),
        ("SELECT '%%' LIKE a, 5 %% 2", "SELECT ? LIKE a, ? %% ?"),
    ],
)
def test_literals_and_placeholders_become_question_marks(
    sql: str, expected: str
) -> None:
    """Every literal and every placeholder style is replaced by ``?``."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT pg_sleep(%s::float8)", "SELECT pg_sleep(?::float8)"),
        ("SELECT '2024-01-01'::date, INTERVAL '1 day'", "SELECT ?::date, INTERVAL ?"),
        (
            "WHERE id = ANY(%s) AND tags @> %s::jsonb",
            "WHERE id = ANY(?) AND tags @> ?::jsonb",
        ),
        ("WHERE a ->> 'k' = %s AND b = $12", "WHERE a ->> ? = ? AND b = ?"),
        ("WHERE a = %b AND b = %t AND c = %(n)b", "WHERE a = ? AND b = ? AND c = ?"),
        ("WHERE a IN (%t, %t, %t)", "WHERE a IN (...)"),
        (
            'SELECT 1 FROM "public"."shop_customer" RETURNING "shop_customer"."id"',
            'SELECT ? FROM "public"."shop_customer" RETURNING "shop_customer"."id"',
        ),
    ],
)
def test_postgresql_syntax_keeps_its_shape(sql: str, expected: str) -> None:
    """Casts, JSON operators, psycopg placeholders and schemas keep their shape."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "t1"."col_2" FROM "table 3"', 'SELECT "t1"."col_2" FROM "table 3"'),
        ('SELECT "it\'s 9" FROM t', 'SELECT "it\'s 9" FROM t'),
        ('SELECT "a""1" FROM t', 'SELECT "a""1" FROM t'),
        ("SELECT `x  2` FROM `db`.`t`", "SELECT `x  2` FROM `db`.`t`"),
        ("SELECT col_1, table2.c3 FROM table2", "SELECT col_1, table2.c3 FROM table2"),
        ("SELECT x1e5 FROM t", "SELECT x1e5 FROM t"),
    ],
)
def test_identifiers_are_kept_as_written(sql: str, expected: str) -> None:
    """Quoted identifiers and digits inside names are never taken for literals."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT/*x*/1", "SELECT ?"),
        ("SELECT a--note\nFROM t", "SELECT a FROM t"),
        ("SELECT a /* one */ /* two */ FROM t", "SELECT a FROM t"),
        ("SELECT '/* not a comment */' FROM t", "SELECT ? FROM t"),
        ("SELECT '-- nor this' FROM t", "SELECT ? FROM t"),
        ('SELECT "--kept" FROM t', 'SELECT "--kept" FROM t'),
        ("  SELECT\n\t a ,\r\n b  FROM   t  ", "SELECT a , b FROM t"),
    ],
)
def test_comments_and_whitespace_become_one_space(sql: str, expected: str) -> None:
    """Comments are replaced by a space, so the tokens around them stay apart."""
    assert fingerprint(sql) == expected


def test_in_lists_of_any_length_share_a_fingerprint() -> None:
    """An IN list of 1 item and one of 50 items give the same fingerprint."""
    one = 'SELECT * FROM "t" WHERE "t"."id" IN (%s)'
    fifty = 'SELECT * FROM "t" WHERE "t"."id" IN (' + ", ".join(["%s"] * 50) + ")"
    literals = 'SELECT * FROM "t" WHERE "t"."id" IN (1, 2,3 , 4)'
    assert fingerprint(one) == fingerprint(fifty) == fingerprint(literals)
    assert fingerprint(one) == 'SELECT * FROM "t" WHERE "t"."id" IN (...)'


def test_in_with_a_subquery_is_kept() -> None:
    """Only lists of values collapse; a subquery after IN keeps its shape."""
    sql = "SELECT a FROM t WHERE b IN (SELECT c FROM u WHERE d = 3)"
    assert (
        fingerprint(sql) == "SELECT a FROM t WHERE b IN (SELECT c FROM u WHERE d = ?)"
    )


def test_multi_row_values_collapse_to_one_row() -> None:
    """A bulk insert has one fingerprint whatever its number of rows."""
    one = 'INSERT INTO "t" ("a", "b") VALUES (%s, %s)'
    three = 'INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s)'
    assert fingerprint(one) == fingerprint(three)
    assert fingerprint(three) == 'INSERT INTO "t" ("a", "b") VALUES (?, ?)'


def test_keywords_keep_their_case() -> None:
    """Keyword case is not normalised: the documented choice."""
    assert fingerprint("select 1") == "select ?"
    assert fingerprint("select 1") != fingerprint("SELECT 1")


def test_different_shapes_stay_different() -> None:
    """Queries on other columns or tables do not collide."""
    assert fingerprint("SELECT a FROM t WHERE b = 1") != fingerprint(
        "SELECT a FROM t WHERE c = 1"
    )


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'oops FROM t WHERE a = 1", "SELECT ?"),
        (
            "SELECT * FROM u WHERE pw = 'unterminated hunter2",
            "SELECT * FROM u WHERE pw = ?",
        ),
        ("SELECT E'hunter2\\", "SELECT ?"),
        ("SELECT * FROM u WHERE pw = $$hunter2", "SELECT * FROM u WHERE pw = ?"),
        ("SELECT $tag$hunter2$other$", "SELECT ?"),
        ("SELECT a FROM u WHERE b = 'x' /* 'hunter2", "SELECT a FROM u WHERE b = ?"),
    ],
)
def test_an_unterminated_literal_runs_to_the_end(sql: str, expected: str) -> None:
    """An open quote or comment hides the rest of the statement."""
    assert fingerprint(sql) == expected


def test_a_dollar_inside_an_identifier_opens_no_quote() -> None:
    """PostgreSQL allows $ inside names; that is not a dollar quote."""
    assert fingerprint("SELECT a$b$c FROM t") == "SELECT a$b$c FROM t"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # MySQL reads one string per value; standard SQL ends the first at
        # \' and then sees the e-mail address and password outside quotes.
        (
            "SELECT * FROM u WHERE name = 'O\\'Brien' AND email = "
            "'bob@example.com' AND pw = 'hunter2'",
            "SELECT * FROM u WHERE name = ?",
        ),
        # The other way round: standard SQL has two strings, MySQL one string
        # holding "OR x =" and then b outside quotes.
        ("SELECT * FROM t WHERE a = 'a\\' OR x = 'b'", "SELECT * FROM t WHERE a = ?"),
        # An escaped backslash closes the string in both readings.
        ("SELECT 'a\\\\', 'b' FROM t", "SELECT ?, ? FROM t"),
        (
            "SELECT * FROM u WHERE e LIKE 'c@x.org' ESCAPE '\\'",
            "SELECT * FROM u WHERE e LIKE ? ESCAPE ?",
        ),
        ("WHERE a = 'x\\' -- y'\nAND b = 2", "WHERE a = ? AND b = ?"),
    ],
)
def test_backslash_escapes_hide_text_under_either_reading(
    sql: str, expected: str
) -> None:
    """Text in a string for MySQL or for standard SQL is never kept."""
    assert fingerprint(sql) == expected


def test_double_quoted_runs_are_kept_as_identifiers() -> None:
    """The documented limitation: a SQLite or MySQL "..." string is kept."""
    sql = 'SELECT * FROM u WHERE email = "alice@example.com"'
    assert fingerprint(sql) == sql


def test_long_statements_are_fingerprinted_without_the_cache() -> None:
    """A very long bulk insert is normalised the same way but not cached."""
    cache_clear()
    rows = ", ".join(["(%s, %s)"] * 2000)
    sql = f'INSERT INTO "t" ("a", "b") VALUES {rows}'
    assert fingerprint(sql) == 'INSERT INTO "t" ("a", "b") VALUES (?, ?)'
    assert cache_size() == 0
    fingerprint("SELECT 1")
    assert cache_size() == 1


NESTED_SECRET = "alice.secret@example.com"


def test_a_nested_comment_is_not_kept() -> None:
    """The reported case: text after an inner ``*/`` is still comment."""
    sql = f"SELECT 1 AS x /* request /* trace */ user={NESTED_SECRET} */"
    assert fingerprint(sql) == "SELECT ? AS x"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 /* a /* b */ pw */ FROM t", "SELECT ? FROM t"),
        ("SELECT 1 /* a /* b /* c */ pw */ pw */ FROM t", "SELECT ? FROM t"),
        (
            "SELECT 1 /* 1 /* 2 /* 3 /* 4 */ pw */ pw */ pw */ FROM t WHERE a = 2",
            "SELECT ? FROM t WHERE a = ?",
        ),
        ("SELECT 1 /* a /* b */ pw */, 2 /* c */", "SELECT ? , ?"),
        ("SELECT/*/* pw */ pw */1", "SELECT ?"),
        ("SELECT 1 /*/ pw */ FROM t", "SELECT ? FROM t"),
        ("SELECT 1 /**/*2 FROM t", "SELECT ? *? FROM t"),
    ],
)
def test_nested_comments_of_any_depth_are_stripped_whole(
    sql: str, expected: str
) -> None:
    """A block comment ends only at the ``*/`` that matches its own ``/*``."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 /* a /* b */ hunter2", "SELECT ?"),
        ("SELECT 1 /* a /* b /* c */ */ hunter2", "SELECT ?"),
        # The flat reading sees a string after "/* /* */": that run is a
        # literal under one reading, so it becomes "?", not a space.
        (
            "SELECT 1 FROM t WHERE a = 2 /* /* */ 'hunter2'",
            "SELECT ? FROM t WHERE a = ? ?",
        ),
    ],
)
def test_an_unterminated_nested_comment_runs_to_the_end(
    sql: str, expected: str
) -> None:
    """A nested comment whose outer level never closes hides the rest."""
    assert fingerprint(sql) == expected


def test_a_literal_the_flat_reading_sees_after_a_nested_comment_is_hidden() -> None:
    """On MySQL the string holds ``*/``; on PostgreSQL the comment ends there."""
    # MySQL/SQLite: comment "/* a /* b */", then the string 'x */ hunter2'.
    # PostgreSQL: comment up to the "*/" inside that string, then hunter2
    # and a quote left open to the end.
    sql = "SELECT 1 /* a /* b */, 'x */ hunter2' FROM t"
    assert fingerprint(sql) == "SELECT ? ?"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT '/* a /* b */' , 1 FROM t", "SELECT ? , ? FROM t"),
        ("SELECT '*/ pw /*' , 1 FROM t", "SELECT ? , ? FROM t"),
        ("SELECT $$/* a /* b */$$, 1", "SELECT ?, ?"),
        ("SELECT E'/* \\' /* */', 1", "SELECT ?, ?"),
        (
            'SELECT "/* a /* b */" FROM t WHERE x = 1',
            'SELECT "/* a /* b */" FROM t WHERE x = ?',
        ),
        ('SELECT "a /*" , "*/ b" FROM t', 'SELECT "a /*" , "*/ b" FROM t'),
        ("SELECT `/* c /*` FROM t", "SELECT `/* c /*` FROM t"),
        ("SELECT 1 -- a /* b\nFROM t", "SELECT ? FROM t"),
    ],
)
def test_comment_markers_inside_strings_and_identifiers_are_left_alone(
    sql: str, expected: str
) -> None:
    """``/*`` and ``*/`` inside quotes open and close no comment."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 /* a /* b */ */, 'a\\\\', 'b' FROM t", "SELECT ? , ?, ? FROM t"),
        # As without a comment: after O\' the readings never agree again.
        (
            "SELECT 1 /* a /* b */ */, 'O\\'Brien', 'x' FROM t WHERE pw = 'hunter2'",
            "SELECT ? , ?",
        ),
    ],
)
def test_nested_comments_and_backslash_strings_combine(sql: str, expected: str) -> None:
    """Backslash readings and comment readings combine: no literal is kept."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1_000_123", "SELECT ?"),
        ("SELECT 0o17, 0O17, 0o_17", "SELECT ?, ?, ?"),
        ("SELECT 0b101, 0B1_0_1", "SELECT ?, ?"),
        ("SELECT 0x1F, 0X_1f_FF", "SELECT ?, ?"),
        ("SELECT 1e-3, 1E+3, .5, 1_000.000_5, .5_5e1_0", "SELECT ?, ?, ?, ?, ?"),
        ("WHERE a = -1_000 AND b IN (0x1, 0o2, 0b1)", "WHERE a = ? AND b IN (...)"),
    ],
)
def test_postgresql_16_numeric_literals_become_question_marks(
    sql: str, expected: str
) -> None:
    """Underscored, octal, binary and hex numbers are literals like any other."""
    assert fingerprint(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT t1_0.id, col_1, x_1e5, a0x1F, b0o17, c0b1 FROM t1_0",
        'SELECT "1_000", `0o17` FROM t',
    ],
)
def test_names_with_underscored_digits_are_not_numbers(sql: str) -> None:
    """Digits inside names (and quoted names) never become ``?``."""
    assert fingerprint(sql) == sql


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1:n", "SELECT ??"),
        ("WHERE a = %s1", "WHERE a = ??"),
        ("WHERE a = $1$2", "WHERE a = ??"),
        ("SELECT $$x$$$$y$$", "SELECT ??"),
        ("SELECT $$x$$1", "SELECT ??"),
        ("SELECT %s::jsonb, 'a'.b", "SELECT ?::jsonb, ?.b"),
    ],
)
def test_glued_literal_idempotency_a_token_after_a_literal_is_read_once(
    sql: str, expected: str
) -> None:
    """A token glued to a literal is read as a second pass would read it."""
    assert fingerprint(sql) == expected
    assert fingerprint(expected) == expected


def test_glued_literal_idempotency_a_long_glued_chain_is_hidden_whole() -> None:
    """A chain of glued dollar quotes too long to settle becomes one ``?``."""
    sql = "SELECT " + "$$" * 40
    assert fingerprint(sql) == "?"
    assert fingerprint("?") == "?"
