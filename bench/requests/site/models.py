"""Define the two models the list views read: books and their authors."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    """Someone who wrote a book."""

    name = models.CharField(max_length=100)

    # Declared: django-stubs cannot see this app in demo_site's settings.
    objects: models.Manager[Author] = models.Manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    """A book with one author; the lazy list loads each author on its own."""

    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)

    objects: models.Manager[Book] = models.Manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


def seed(books: int = 60) -> None:
    """Create ``books`` books, each by a different author."""
    authors = Author.objects.bulk_create(
        Author(name=f"Author {i}") for i in range(books)
    )
    Book.objects.bulk_create(
        Book(title=f"Book {i}", author=author) for i, author in enumerate(authors)
    )
