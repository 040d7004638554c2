"""Test the advice wording for failed requests, per-row lookups and slow queries."""

from __future__ import annotations

import time

import pytest

from perfprobe.report import advice


def test_a_request_error_raised_in_the_view_is_told_to_fix_it_there() -> None:
    text = advice.error("request", "GET /orders/", "KeyError", "shop/views.py:12")

    assert text == (
        "GET /orders/ failed with KeyError raised at shop/views.py:12: fix or "
        "handle it there (Django logs the full traceback to the django.request "
        "logger) — if bad input in the request causes it, validate that input "
        "and answer with a 4xx instead of a 500."
    )


def test_a_request_error_with_no_line_of_the_project_says_where_to_look() -> None:
    """A view whose arguments do not match its route raises TypeError in Django.

    No frame of the project's code is on the stack, so there is no call
    site; "fix or handle it there" had nothing to point at.
    """
    text = advice.error("request", "GET /boom/<int:pk>/", "TypeError", None)

    assert text == (
        "GET /boom/<int:pk>/ failed with TypeError, raised where no line of your "
        "code was on the stack: the full traceback, which Django logs to the "
        "django.request logger, shows where it was raised and what called it; "
        "fix or handle it there — if bad input in the request causes it, "
        "validate that input and answer with a 4xx instead of a 500."
    )


def test_a_lookup_by_id_per_row_is_told_in_bulk() -> None:
    """``Author.objects.get(pk=i)`` for each id: one query, as a dict."""
    text = advice.n_plus_one(
        'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."id" = ? '
        "LIMIT ?",
        "shop/views.py:14",
        None,
        [],
        [],
    )

    assert text.endswith(
        "or one filter(pk__in=[...]) query turned into a dict, which in_bulk(ids) "
        "returns in one call."
    )


@pytest.mark.parametrize(
    "fingerprint",
    [
        'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."author_id" = ?',
        'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."author_id" = ? '
        'ORDER BY "shop_book"."title" ASC LIMIT ?',
    ],
)
def test_rows_found_by_another_column_are_told_to_group_not_in_bulk(
    fingerprint: str,
) -> None:
    """``Book.objects.filter(author_id=a.id)`` per author: a dict of each one's rows.

    It was told of a filter(pk__in=...) dict, which in_bulk(ids) returns:
    the primary keys are not what the loop has, several rows may share an
    author, and in_bulk() takes a unique field alone.
    """
    text = advice.n_plus_one(fingerprint, "shop/views.py:14", None, [], [])

    assert text.endswith(
        "prefetch_related() for a reverse or many-to-many relation, or one "
        "filter(author_id__in=[...]) query whose rows are grouped into a dict by "
        "author_id."
    )
    assert "in_bulk" not in text


FUNCTION_STEP = "It applies a function to a filtered column"


def test_a_function_on_a_filtered_column_is_told_an_expression_index() -> None:
    """UPPER() after the WHERE is a filter through a function; before it, not."""
    filtered = advice.slow_query(
        'SELECT "t"."id" FROM "t" WHERE UPPER("t"."email") = ?', "sqlite", None
    )
    selected = advice.slow_query(
        'SELECT UPPER("t"."email") FROM "t" WHERE "t"."id" > ?', "sqlite", None
    )
    # A line of raw SQL (STORE_SQL_PARAMETERS) is read on its own: the WHERE
    # of one line does not make the next line's function a filter.
    lines = advice.slow_query(
        'SELECT "t"."id" FROM "t" WHERE "t"."id" > 1\nUNION SELECT LOWER(\'A\')',
        "sqlite",
        None,
    )

    assert FUNCTION_STEP in filtered
    assert FUNCTION_STEP not in selected
    assert FUNCTION_STEP not in lines


def test_a_long_statement_of_many_where_words_is_read_in_linear_time() -> None:
    """10,000 WHEREs in 60,000 characters: the advice took about 10 s (quadratic).

    The search from every WHERE ran to the end of the line and back; one
    search past the first is done in milliseconds, with room for a loaded
    machine.
    """
    sql = 'SELECT "t"."id" FROM "t" ' + "WHERE " * 10_000

    started = time.perf_counter()
    text = advice.slow_query(sql, "sqlite", None)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert FUNCTION_STEP not in text
    assert FUNCTION_STEP in advice.slow_query(sql + "DATE(?)", "sqlite", None)
