"""Test the advice wording for failed requests and per-row lookups."""

from __future__ import annotations

from perfprobe.report import advice


def test_a_request_error_raised_in_the_view_is_told_to_fix_it_there() -> None:
    text = advice.error("request", "GET /orders/", "KeyError", "shop/views.py:12")

    assert text == (
        "GET /orders/ failed with KeyError raised at shop/views.py:12: fix or "
        "handle it there (Django logs the full traceback to the django.request "
        "logger) — validate input and return a 4xx for bad requests instead of "
        "a 500."
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
        "fix or handle it there — validate input and return a 4xx for bad "
        "requests instead of a 500."
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
