"""Render a ``Report`` as rich tables and a numbered recommendation list."""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .columnfit import PlannedColumn, plan_columns, share_text_width, widest_glyph
from .header import Header
from .model import Report
from .tables import TERMINAL_LIMITS, RecommendationItem, Section, build_tables

#: Width used when the output is not a terminal (a file, a pipe, a test) and
#: ``COLUMNS`` names no usable width.
PLAIN_WIDTH = 120
#: The narrowest and widest plain text ``COLUMNS`` may ask for. Below 60 the
#: tables' columns wrap into slivers; far above any screen, a typo
#: (``COLUMNS=8000000``) would only make rich pad and measure for nothing.
MIN_PLAIN_WIDTH = 60
MAX_PLAIN_WIDTH = 1000
#: The exit status once the output's reader has gone (``| head``): 128 plus
#: SIGPIPE's number, what a shell reports for a process SIGPIPE ended. rich's
#: own choice, 1, is what perfprobe's commands keep for a failed gate.
EXIT_BROKEN_PIPE = 141
KEEP_WHOLE_COLUMNS = frozenset({"Call site", "Top call site", "Endpoint"})
SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_STYLES = {"ok": "green", "failed": "bold red"}


def plain_width(environ: Mapping[str, str] | None = None) -> int:
    """Return the width of plain-text output, from ``COLUMNS`` if it is usable.

    As with ``shutil.get_terminal_size``, a ``COLUMNS`` that is unset or not
    a whole number above 0 is ignored, and ``PLAIN_WIDTH`` is used; a number
    outside ``MIN_PLAIN_WIDTH``..``MAX_PLAIN_WIDTH`` is clamped to that range.
    ``environ`` defaults to ``os.environ``; nothing is raised.
    """
    value = (os.environ if environ is None else environ).get("COLUMNS", "")
    try:
        columns = int(value)
    except ValueError:
        # Not a number, or too many digits for int() to read.
        return PLAIN_WIDTH
    if columns <= 0:
        return PLAIN_WIDTH
    return min(max(columns, MIN_PLAIN_WIDTH), MAX_PLAIN_WIDTH)


# Typographic characters the report uses, spelled in ASCII for a stream
# whose encoding cannot hold them (PYTHONIOENCODING=ascii, a latin-1 pipe).
_ASCII_SPELLINGS = str.maketrans({"\u2026": "...", "\u2014": "-", "\u2013": "-"})


class _ReplacingStream:
    """Write to ``stream`` what its encoding can hold, never raising for the rest.

    Names and SQL come from the application and may hold any character; a
    report must not end in ``UnicodeEncodeError`` half-way through because
    stdout was opened as ASCII. What cannot be encoded becomes ``?``.
    """

    def __init__(self, stream: IO[str], encoding: str) -> None:
        self._stream = stream
        self._encoding = encoding

    def perfprobe_spell(self, text: str) -> str:
        """Return ``text`` as this stream writes it: ASCII spellings, then ``?``."""
        text = text.translate(_ASCII_SPELLINGS)
        return text.encode(self._encoding, "replace").decode(self._encoding)

    def write(self, text: str) -> int:
        self._stream.write(self.perfprobe_spell(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        # flush, isatty, fileno and the rest: the stream's own.
        return getattr(self._stream, name)


class _LineEndStream:
    """Write to ``stream`` without the spaces at the end of each line.

    rich pads plain text to the console's width (a table's title, each line
    of a wrapped paragraph); in a file or a pipe those spaces only trip up
    diffs, editors and ``grep ' $'``. Tables keep their alignment: each row
    ends in its border. Spaces that end a write are held back until the next
    write shows whether its line goes on.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._held = ""

    def write(self, text: str) -> int:
        lines = (self._held + text).split("\n")
        last = lines.pop()
        kept = last.rstrip(" ")
        self._held = last[len(kept) :]
        done = "".join(line.rstrip(" ") + "\n" for line in lines)
        self._stream.write(done + kept)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        # flush, isatty, encoding and the rest: the stream's own.
        return getattr(self._stream, name)


def _safe_stream(stream: IO[str]) -> IO[str]:
    """Return ``stream``, wrapped if its encoding cannot write the report's text."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return stream  # StringIO and the like hold any text
    try:
        "\u2026\u2014".encode(encoding)
    except UnicodeEncodeError:
        return _ReplacingStream(stream, encoding)  # type: ignore[return-value]
    except LookupError:
        return stream
    if codecs.lookup(encoding).name.startswith("utf"):
        return stream
    # A single-byte encoding that holds these two may still miss others.
    return _ReplacingStream(stream, encoding)  # type: ignore[return-value]


def _same(text: str) -> str:
    return text


def spelling(console: Console) -> Callable[[str], str]:
    """Return how ``console``'s stream will spell text, to apply before layout.

    A stream that cannot hold the report's characters writes ``"..."`` for
    ``"…"`` and ``?`` for the rest. Done only at the write, that would widen
    or narrow a table's cells after rich had measured them; renderers spell
    their text with this function first, so every border stays in place.
    """
    spell = getattr(console.file, "perfprobe_spell", None)
    return spell if callable(spell) else _same


def _cells(text: str) -> int:
    """Return the terminal cells of the widest line of ``text``."""
    return max(cell_len(line) for line in text.split("\n"))


def _longest_word(text: str) -> int:
    """Return the terminal cells of the longest space-free run of ``text``."""
    return max((cell_len(word) for word in text.split()), default=0)


class _Console(Console):
    """A rich console that ends the process with ``EXIT_BROKEN_PIPE``."""

    def on_broken_pipe(self) -> None:
        """Stop quietly, as rich does, but with a status of its own."""
        try:
            # rich points stdout at /dev/null (no error at the exit's
            # flush) and raises SystemExit(1).
            super().on_broken_pipe()
        except SystemExit:
            raise SystemExit(EXIT_BROKEN_PIPE) from None


def make_console(
    file: IO[str] | None = None,
    *,
    width: int | None = None,
    color: bool = True,
    force_color: bool = False,
) -> Console:
    """Return a console for ``file`` (stdout by default).

    A terminal gets colours (unless ``color`` is false) and its own width;
    anything else gets plain text (no ANSI escapes, no emoji, no spaces at
    the ends of lines) at ``width`` columns, by default ``plain_width()``, so
    lines do not wrap at rich's 80-column fallback. ``force_color`` gives
    colours even to a file or a pipe (the commands' ``--force-color``).
    Characters the stream's encoding cannot hold are written as ASCII or
    ``?`` instead of failing. When the reader of the stream has gone (a
    closed pipe), the process exits quietly with ``EXIT_BROKEN_PIPE``.
    """
    stream = _safe_stream(file if file is not None else sys.stdout)
    is_terminal = getattr(stream, "isatty", lambda: False)()
    if force_color:
        # A file or pipe (``| less -R``) is as wide as the plain report.
        shown = None if is_terminal else width or plain_width()
        return _Console(file=stream, force_terminal=True, width=shown)
    if is_terminal:
        if color:
            return _Console(file=stream)
        return _Console(file=stream, color_system=None, no_color=True)
    return _Console(
        file=_LineEndStream(stream),  # type: ignore[arg-type]
        force_terminal=False,
        color_system=None,
        no_color=True,
        emoji=False,
        highlight=False,
        width=width if width is not None else plain_width(),
    )


class TerminalRenderer:
    """Print a report to a rich ``Console``: tables first, then recommendations.

    When the console is not a terminal, output is plain text at
    ``plain_width()`` columns (``COLUMNS``, else 120; or ``width`` when
    given), with ASCII table borders; otherwise rich's colours and the
    terminal's width are used.
    """

    def __init__(
        self, console: Console | None = None, *, width: int | None = None
    ) -> None:
        self.console = console if console is not None else make_console()
        terminal = self.console.is_terminal
        if width is None and not terminal:
            width = plain_width()
        self.width = width
        self.box = box.SIMPLE_HEAD if terminal else box.ASCII
        self._spell = spelling(self.console)

    def _text(self, text: str, style: str = "") -> Text:
        return Text(self._spell(text), style=style)

    def render(self, report: Report) -> None:
        """Print every non-empty section of ``report``."""
        tables = build_tables(report, TERMINAL_LIMITS)
        self.header(tables.header)
        for section in tables.sections:
            self.section(section)
        self.recommendations(tables.recommendations)

    def _print(self, renderable: Any = "") -> None:
        if isinstance(renderable, str):
            renderable = self._text(renderable)
        self.console.print(
            renderable, width=self.width, markup=False, emoji=False, highlight=False
        )

    def _indented(self, text: str) -> None:
        # Padding keeps wrapped continuation lines under their label.
        self._print(Padding(self._text(text), (0, 0, 0, 3), expand=False))

    def header(self, header: Header) -> None:
        """Print the title, environment, thresholds and headline counts."""
        self._print(self._text(header.title, style="bold"))
        self._print(
            f"Generated {header.generated_at} - {', '.join(header.environment)}"
        )
        self._print(header.thresholds)
        for note in header.notes:
            self._print(note)
        self._print(header.totals)
        if header.recommendation_counts:
            self._print(
                self._text(
                    f"{header.recommendation_counts} - the recommendations "
                    "follow the tables.",
                    style="bold",
                )
            )

    def section(self, section: Section) -> None:
        """Print ``section`` as a table with its notes below it.

        A table too wide for the console is printed as several, each
        starting with the section's first column (see ``columnfit``).
        """
        title = section.title
        if section.subtitle:
            title = f"{title} ({section.subtitle})"
        spelt = [[self._spell(cell) for cell in row] for row in section.rows]
        headings = [self._spell(column) for column in section.columns]
        # Each column's widest cell or heading, as the stream will spell it.
        needs = [
            max([_cells(heading)] + [_cells(row[index]) for row in spelt])
            for index, heading in enumerate(headings)
        ]
        # rich prints no wider than its console, whatever width print() asks.
        width = self.console.width
        if self.width is not None:
            width = min(self.width, width)
        # Each column's longest word: what it takes to wrap without folding
        # a word in two.
        words = [
            max([_longest_word(heading)] + [_longest_word(row[index]) for row in spelt])
            for index, heading in enumerate(headings)
        ]
        # Each column's widest character: 2 where it holds a wide one (漢),
        # the least it can be narrowed to without rich leaving it out.
        glyphs = [
            max([widest_glyph(heading)] + [widest_glyph(row[index]) for row in spelt])
            for index, heading in enumerate(headings)
        ]
        plan = plan_columns(
            needs,
            [column in section.numeric for column in section.columns],
            # A call site cut to "apps/x/conc…" loses the line number it is
            # there for: such columns wrap only when nothing else fits.
            [column in KEEP_WHOLE_COLUMNS for column in section.columns],
            width,
            words,
        )
        for part, planned in enumerate(plan):
            heading = title if part == 0 else f"{section.title} (continued)"
            shares = share_text_width(needs, words, planned, width, glyphs)
            self._print(self._table(section, heading, planned, needs, shares))
        for note in section.notes:
            self._print(note)

    def _table(
        self,
        section: Section,
        title: str,
        planned: Sequence[PlannedColumn],
        needs: Sequence[int],
        shares: dict[int, int],
    ) -> Table:
        table = Table(
            title=self._text(title), title_justify="left", box=self.box, expand=False
        )
        numeric = section.numeric
        for column in planned:
            name = section.columns[column.index]
            # Folded, never cut: rich's "ellipsis" would drop the end of a
            # name or a number too wide for its column.
            table.add_column(
                self._text(name),
                justify="right" if name in numeric else "left",
                no_wrap=column.whole,
                overflow="fold",
                min_width=needs[column.index] if column.whole else None,
                width=shares.get(column.index),
            )
        for row in section.rows:
            # Text never parses markup, so SQL like "[x]" or labels from user
            # code print as they are.
            table.add_row(
                *(
                    self._text(
                        row[column.index],
                        style=self._cell_style(
                            section, section.columns[column.index], row[column.index]
                        ),
                    )
                    for column in planned
                )
            )
        return table

    @staticmethod
    def _cell_style(section: Section, column: str, cell: str) -> str:
        if column == section.status_column:
            return STATUS_STYLES.get(cell, "")
        return ""

    def recommendations(self, recommendations: Sequence[RecommendationItem]) -> None:
        """Print the numbered recommendations, coloured by severity."""
        self._print()
        if not recommendations:
            self._print("Recommendations: none, nothing crossed a threshold.")
            return
        self._print(self._text("Recommendations", style="bold"))
        for number, rec in enumerate(recommendations, start=1):
            line = Text(f"{number}. ")
            line.append(
                f"[{rec.severity.upper()}] ",
                style=SEVERITY_STYLES.get(rec.severity, ""),
            )
            line.append(self._spell(rec.title), style="bold")
            line.append(f" ({rec.rule_id})", style="dim")
            self._print(line)
            self._indented(f"Evidence: {rec.evidence}")
            self._indented(f"Suggestion: {rec.suggestion}")
