"""Tests for perfprobe.report.sitefunction: the function a call site is in."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfprobe.compare import run_record
from perfprobe.report import validate_report
from perfprobe.report.sitefunction import MODULE_LEVEL, function_at

from .report_factories import build, make_collector, n_plus_one_queries, run_scope

# Each line the tests name is marked with its number.
SOURCE = '''\
"""Views."""
import functools

TOTAL = sum(x for x in range(3))  # line 4


def order_list(request, orders):
    rows = [o.customer for o in orders]  # line 8
    for order in orders:
        order.customer  # line 10

    def rows_of(book):
        return book.author  # line 13


class BookList:
    queryset = None  # line 17

    @functools.cache  # line 19
    def get(self, request,
            page=1):  # line 21
        return [b.author for b in self.queryset]  # line 22

    class Meta:
        def inner(self):
            return 1  # line 26


async def feed(books):
    async for book in books:
        book.author  # line 31
'''


@pytest.fixture
def views(tmp_path: Path) -> Path:
    path = tmp_path / "views.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "function"),
    [
        (4, MODULE_LEVEL),
        (8, "order_list"),
        (10, "order_list"),
        (13, "order_list.<locals>.rows_of"),
        (17, "BookList"),
        (19, "BookList"),
        (21, "BookList"),
        (22, "BookList.get"),
        (26, "BookList.Meta.inner"),
        (31, "feed"),
    ],
)
def test_a_line_is_named_by_its_function_as_python_names_it(
    views: Path, line: int, function: str
) -> None:
    """Methods, nested functions, class bodies and module code: co_qualname's names.

    A comprehension is part of its function; a decorator and a default run
    in the enclosing code.
    """
    assert function_at(f"{views}:{line}") == function


ONE_LINE_BODIES = """\
class BookList:
    def get_queryset(self): return [b.author for b in self.books]  # line 2
    def other(self):
        return None


def view(request, books):
    def rows(): return [b.author for b in books]  # line 8
    return rows()
"""


@pytest.mark.parametrize(
    ("line", "function"),
    [(2, "BookList.get_queryset"), (8, "view.<locals>.rows")],
)
def test_a_body_on_its_def_line_is_named_by_its_own_function(
    tmp_path: Path, line: int, function: str
) -> None:
    """A one-line body first in its class or function is named by its def.

    The line is the enclosing code's too (the def statement), but it is the
    body that runs a query there.
    """
    views = tmp_path / "views.py"
    views.write_text(ONE_LINE_BODIES, encoding="utf-8")

    assert function_at(f"{views}:{line}") == function


FIRST_DECORATED = """\
import functools


class BookList:
    @functools.cache  # line 5
    def get(self):
        return None


def cached(view):
    @functools.wraps(  # line 11
        view
    )
    def wrapper(request):
        return view(request)

    return wrapper
"""


@pytest.mark.parametrize(
    ("line", "function"), [(5, "BookList"), (11, "cached"), (12, "cached")]
)
def test_a_decorator_first_in_a_body_runs_in_that_body(
    tmp_path: Path, line: int, function: str
) -> None:
    """A decorated definition opening a body: its decorators are that body's code."""
    views = tmp_path / "views.py"
    views.write_text(FIRST_DECORATED, encoding="utf-8")

    assert function_at(f"{views}:{line}") == function


@pytest.mark.parametrize("site", [None, "", "views.py", "<string>:3", "x.py:1"])
def test_a_site_without_a_readable_line_has_no_function(site: str | None) -> None:
    """No call site, no line, code without a file, no such file: unknown."""
    assert function_at(site) is None


def test_a_line_past_the_code_has_no_function(views: Path) -> None:
    """The source ends before the line (edited since the run): unknown."""
    assert function_at(f"{views}:40") is None


def test_a_file_that_is_not_python_has_no_function(tmp_path: Path) -> None:
    """A source that does not parse names no function."""
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n", encoding="utf-8")

    assert function_at(f"{broken}:2") is None


def test_an_edited_file_is_read_again(views: Path) -> None:
    """The names follow the file's modification: a renamed view is renamed."""
    assert function_at(f"{views}:10") == "order_list"

    views.write_text(SOURCE.replace("def order_list", "def orders_page"))

    assert function_at(f"{views}:10") == "orders_page"


def test_aggregated_findings_and_run_records_name_the_function(views: Path) -> None:
    """A report's N+1 finding names the function of its call site, kept in runs."""
    collector = make_collector()
    run_scope(collector, "GET /books/", n_plus_one_queries(6, call_site=f"{views}:22"))

    report = build(collector)

    (finding,) = report.n_plus_one["aggregated"]
    assert finding["function"] == "BookList.get"
    validate_report(report.to_dict())
    (record,) = run_record(report.to_dict())["n_plus_one"]
    assert record["function"] == "BookList.get"
