"""Test how query texts are shortened for the report's tables and titles."""

from __future__ import annotations

from perfprobe.report.fmt import SELECT_LIST_CHARS, shorten_sql

COLUMNS = '"shop_book"."id", "shop_book"."title", "shop_book"."author_id"'
BOOK = f'SELECT {COLUMNS} FROM "shop_book" WHERE "shop_book"."id" = ?'


def test_a_text_that_fits_is_kept_whole() -> None:
    assert shorten_sql(BOOK, len(BOOK)) == BOOK
    assert shorten_sql(BOOK, None) == BOOK


def test_a_long_column_list_goes_before_the_table_and_where() -> None:
    """The end tells shapes apart: it stays; the 60-character list goes."""
    assert len(COLUMNS) > SELECT_LIST_CHARS
    assert shorten_sql(BOOK, 60) == (
        'SELECT … FROM "shop_book" WHERE "shop_book"."id" = ?'
    )
    distinct = BOOK.replace("SELECT ", "SELECT DISTINCT ", 1)
    assert shorten_sql(distinct, 61) == (
        'SELECT DISTINCT … FROM "shop_book" WHERE "shop_book"."id" = ?'
    )


def test_still_too_long_is_cut_at_the_end() -> None:
    shortened = shorten_sql(BOOK, 30)
    assert shortened == 'SELECT … FROM "shop_book" WHE…'
    assert len(shortened) == 30


def test_a_from_inside_a_subquery_or_a_string_is_not_the_statements() -> None:
    """Only a top-level FROM ends the list; a subquery's or a quoted one does not."""
    sub = (
        'SELECT "a"."id", (SELECT COUNT(*) FROM "b" WHERE "b"."a_id" = "a"."id") '
        'AS "n", \' FROM \' AS "x" FROM "a" WHERE "a"."id" = ?'
    )
    assert shorten_sql(sub, 50) == 'SELECT … FROM "a" WHERE "a"."id" = ?'


def test_a_short_list_or_another_statement_is_cut_as_before() -> None:
    short = 'SELECT "a"."id" FROM "a" WHERE "a"."name" = ? AND "a"."age" > ?'
    assert shorten_sql(short, 30) == 'SELECT "a"."id" FROM "a" WHER…'
    update = 'UPDATE "shop_book" SET "title" = ?, "author_id" = ? WHERE "id" = ?'
    assert shorten_sql(update, 30) == 'UPDATE "shop_book" SET "title…'


def test_a_column_name_whose_capitals_are_longer_keeps_the_table() -> None:
    """The FROM is found in the text, not in a longer copy: "ß".upper() is "SS".

    Matched against the whole text upper-cased, one "größe" column left the
    list whole, and nine such letters made the table itself vanish.
    """
    german = BOOK.replace('"title"', '"größe"')
    assert shorten_sql(german, 60) == (
        'SELECT … FROM "shop_book" WHERE "shop_book"."id" = ?'
    )
    nine = (
        'SELECT "a"."ßßßßßßßßß", "a"."title", "a"."author_id" '
        'FROM "a" WHERE "a"."b" = ?'
    )
    assert shorten_sql(nine, 50) == 'SELECT … FROM "a" WHERE "a"."b" = ?'


def test_a_short_list_of_several_columns_goes_too() -> None:
    """Two columns (38 characters) cut the text inside its table's name.

    An N+1's lazy load, as the terminal report showed it at 60 characters:
    ``SELECT "shop_author"."id", "shop_author"."name" FROM "shop_…``, neither
    the table nor the WHERE that makes it a lookup by id.
    """
    columns = '"shop_author"."id", "shop_author"."name"'
    lazy = f'SELECT {columns} FROM "shop_author" WHERE "shop_author"."id" = ? LIMIT ?'
    assert len(columns) <= SELECT_LIST_CHARS
    shortened = shorten_sql(lazy, 60)
    where = 'WHERE "shop_author"."id" = ? LI…'
    assert shortened == f'SELECT … FROM "shop_author" {where}'
    assert len(shortened) == 60
    # Wider, the whole statement but its columns fits, and is shown so.
    assert shorten_sql(lazy, 70) == (
        'SELECT … FROM "shop_author" WHERE "shop_author"."id" = ? LIMIT ?'
    )
