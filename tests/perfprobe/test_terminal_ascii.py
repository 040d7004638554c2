"""Test that tables stay aligned when an ASCII stream respells their text."""

from __future__ import annotations

import io

import pytest

from perfprobe.compare import ComparisonRenderer, compare_reports, report_from_data
from perfprobe.report import terminal
from perfprobe.report.terminal import TerminalRenderer, make_console

from .compare_factories import report, run
from .report_factories import build, make_collector, operation, query

# Longer than the Operations table's name column: rich cuts or folds it.
LONG_NAME = "checkout.render_invoice_for_every_customer_of_the_month"
# Longer than the Queries table keeps: cut with "…" before layout.
LONG_SQL = "SELECT " + ", ".join(f'"column_{i}"' for i in range(60)) + " FROM t"


@pytest.fixture(autouse=True)
def _no_forced_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _ascii_stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="ascii", newline="\n")


def _written(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("ascii")


def _tables(text: str) -> list[list[str]]:
    """Return each ASCII table's lines, from its top border to its bottom."""
    lines, tables, top = text.splitlines(), [], None
    for number, line in enumerate(lines):
        if line.startswith("+") and top is None:
            top = number
        elif line.startswith("+") and top is not None:
            tables.append(lines[top : number + 1])
            top = None
    return tables


def test_shortened_and_wide_names_keep_the_borders_in_line() -> None:
    """A cut name's "..." and a wide character's "?" do not push a border out."""
    collector = make_collector()
    collector.record_operation(operation(LONG_NAME, 0.5), None)
    collector.record_query(query(LONG_SQL, 0.01), None)
    # Two columns wide on a terminal; one "?" on an ASCII stream.
    collector.record_operation(operation("\u65e5\u672c.sync", 0.2), None)
    stream = _ascii_stream()
    TerminalRenderer(make_console(stream)).render(build(collector))

    text = _written(stream)
    assert "..." in text and "??.sync" in text
    tables = _tables(text)
    assert tables
    for table in tables:
        assert len({len(line) for line in table}) == 1, "\n".join(table)


def test_a_comparison_on_an_ascii_stream_stays_aligned() -> None:
    """perfprobe_compare's tables hold their borders with a cut name too."""
    name = "\u65e5" * 3 + "x" * 90
    old = report(run(operations={name: (0.1, 0.1)}))
    new = report(run(operations={name: (0.3, 0.3)}))
    comparison = compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=0.1,
    )
    stream = _ascii_stream()
    ComparisonRenderer(make_console(stream)).render(comparison)

    tables = _tables(_written(stream))
    assert tables
    for table in tables:
        assert len({len(line) for line in table}) == 1, "\n".join(table)


def test_a_utf8_stream_is_not_respelt() -> None:
    """Only a stream that cannot hold the characters gets ASCII spellings."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert terminal.spelling(make_console(stream))("a \u2026") == "a \u2026"
    ascii_console = make_console(_ascii_stream())
    assert terminal.spelling(ascii_console)("a \u2026 \u00e9") == "a ... ?"


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "utf-8"])
def test_a_comparison_at_sixty_columns_keeps_every_column(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """At COLUMNS=60 the timings table stays aligned and shows its names.

    rich cut the no-wrap value columns with its own ellipsis (respelt
    "..." on ASCII and Latin-1, pushing the borders out) and shrank Name
    and Verdict, the only columns left to wrap, to nothing.
    """
    monkeypatch.setenv("COLUMNS", "60")
    name = "checkout.render_invoice"
    old = report(run(operations={name: (0.1, 0.1), "tiny": (1e-7, 2e-7)}))
    new = report(run(operations={name: (0.3, 0.3), "tiny": (1e-6, 2e-6)}))
    comparison = compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=0.1,
    )
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, newline="\n")
    ComparisonRenderer(make_console(stream)).render(comparison)
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    text = buffer.getvalue().decode(encoding)

    tables = _tables(text)
    assert tables
    for table in tables:
        assert len({len(line) for line in table}) == 1, "\n".join(table)
        assert max(len(line) for line in table) <= 60
    # Name and Verdict keep a width: the short name and the verdict's
    # first word fit on a line of their cells.
    assert any("| tiny " in line for line in tables[0]), "\n".join(tables[0])
    assert any("slower" in line for line in tables[0]), "\n".join(tables[0])
