"""Read the tables of an HTML report back as text, by their headings."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    """Collect each ``<table>``'s rows under the ``<h2>`` before it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._heading: str | None = None
        self._title = ""
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._heading, self._title = "", ""
        elif tag == "table":
            self._rows = self.tables.setdefault(self._title, [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self._title, self._heading = self._heading, None
        elif tag == "table":
            self._rows = None
        elif tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading += data
        elif self._cell is not None:
            self._cell.append(data)


def html_tables(page: str) -> dict[str, list[list[str]]]:
    """Return every table of ``page`` as rows of unescaped cell text.

    Tables are keyed by the text of the ``<h2>`` heading above them; the
    first row of each is its heading row.
    """
    parser = _Tables()
    parser.feed(page)
    parser.close()
    return parser.tables
