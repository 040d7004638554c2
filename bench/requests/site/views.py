"""The three benchmarked views; all answer JSON of a fixed shape."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from .models import Book

#: Rows the list views return; the lazy one runs one query more per row.
LIST_ROWS = 50


def no_query(request: HttpRequest) -> JsonResponse:
    """Answer without touching the database."""
    return JsonResponse({"status": "ok", "items": [1, 2, 3]})


def joined_list(request: HttpRequest) -> JsonResponse:
    """List 50 books with their authors in one joined query."""
    books = Book.objects.select_related("author")[:LIST_ROWS]
    return JsonResponse({"books": [[b.title, b.author.name] for b in books]})


def lazy_list(request: HttpRequest) -> JsonResponse:
    """List the same 50 books, loading each author lazily: 51 queries, an N+1."""
    books = Book.objects.all()[:LIST_ROWS]
    return JsonResponse({"books": [[b.title, b.author.name] for b in books]})
