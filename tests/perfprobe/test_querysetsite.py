"""The line that built the queryset a loop reads, read from the loop's source."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perfprobe.report.querysetsite import queryset_built_at

SOURCE = textwrap.dedent(
    """\
    def plain(Book):
        books = Book.objects.all()
        for book in books:
            print(book.author)


    def comprehension(Book):
        books: object = Book.objects.all()
        return [b.author for b in books]


    def twice(Book, flag):
        books = Book.objects.all()
        if flag:
            books = books.filter(x=1)
        for book in books:
            print(book.author)


    def parameter(books):
        for book in books:
            print(book.author)


    def attribute(self):
        for book in self.books:
            print(book.author)


    def later(Book):
        for book in books:
            print(book.author)
        books = Book.objects.all()


    rows = Book.objects.all()
    for row in rows:
        print(row.author)


    def outer(Book):
        books = Book.objects.all()

        def inner():
            for book in books:
                print(book.author)

        return inner
    """
)


@pytest.fixture
def views(tmp_path: Path) -> str:
    path = tmp_path / "views.py"
    path.write_text(SOURCE)
    return str(path)


@pytest.mark.parametrize(
    ("line", "name", "built"),
    [
        (3, "books", 2),  # for over a name assigned once, two lines up
        (9, "books", 8),  # a comprehension's iterable, an annotated assignment
        (37, "rows", 36),  # module level
    ],
)
def test_a_loop_over_a_once_assigned_name_gives_the_assignment(
    views: str, line: int, name: str, built: int
) -> None:
    assert queryset_built_at(f"{views}:{line}") == f"{name} at {views}:{built}"


@pytest.mark.parametrize(
    "line",
    [
        16,  # the name is assigned twice (one in a branch): no guess
        21,  # a parameter: built by the caller
        26,  # not a plain name
        31,  # assigned only after the loop
        45,  # read in a nested function, assigned in the enclosing one
        2,  # the assignment itself, no loop
    ],
)
def test_anything_else_gives_no_line(views: str, line: int) -> None:
    assert queryset_built_at(f"{views}:{line}") is None


def test_unreadable_sites_give_no_line(tmp_path: Path, views: str) -> None:
    assert queryset_built_at(None) is None
    assert queryset_built_at(f"{tmp_path}/missing.py:3") is None
    assert queryset_built_at(f"{views}:x") is None
    broken = tmp_path / "broken.py"
    broken.write_text("books = 1\nfor b in books:\n  (\n")
    assert queryset_built_at(f"{broken}:2") is None
