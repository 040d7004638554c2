"""Tests for perfprobe.report.columnfit: names wrap, numbers stay whole."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.cells import cell_len

from perfprobe.report.columnfit import PlannedColumn, plan_columns, share_text_width
from perfprobe.report.model import Report
from perfprobe.report.tables import Section
from perfprobe.report.terminal import TerminalRenderer, make_console

from .report_factories import build, make_collector, operation, request

# The names a user's report cut to "concurrent.work…", "db.n_plus_one_l…"
# and "errors.impossib…" at 120 columns on a UTF-8 pipe.
NAMES = (
    "concurrent.worker_task",
    "db.n_plus_one_loop",
    "errors.impossible_allocation",
    "memory.process_records",
)
# Each operation's duration, and how format_ms shows it (by hand: three
# digits, one decimal from 1 ms, three decimals below).
DURATIONS = {
    "concurrent.worker_task": (0.0478, "47.8 ms"),
    "db.n_plus_one_loop": (0.0251, "25.1 ms"),
    "errors.impossible_allocation": (0.000031, "0.031 ms"),
    "memory.process_records": (0.493, "493 ms"),
}
ROUTE = "/api/orders/<int:pk>/invoice/"


@pytest.fixture(autouse=True)
def _no_forced_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _report() -> Report:
    collector = make_collector()
    for name, (duration_s, _) in DURATIONS.items():
        event = operation(
            name,
            duration_s,
            error_type="MemoryError" if name.startswith("errors.") else None,
        )
        tags = {"scenario": "database_operations"}
        collector.record_operation(dataclasses.replace(event, tags=tags), None)
    collector.record_request(request(ROUTE, 500, 0.0293, query_count=3), None)
    return build(collector)


def _render(
    encoding: str,
    columns: int,
    monkeypatch: pytest.MonkeyPatch,
    report: Report | None = None,
) -> str:
    """Print the report as ``perfprobe_report > file`` would, at ``columns``."""
    monkeypatch.setenv("COLUMNS", str(columns))
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding=encoding, newline="\n")
    TerminalRenderer(make_console(stream)).render(report or _report())
    stream.flush()
    return buffer.getvalue().decode(encoding)


def _tables(text: str) -> list[list[list[str]]]:
    """Return each ASCII table's body rows, as lists of stripped cells."""
    tables: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("+"):
            if rows is None:
                rows = []
            else:
                tables.append(rows)
                rows = None
        elif rows is not None and line.startswith("|") and "-+-" not in line:
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return tables


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
@pytest.mark.parametrize("columns", [60, 80, 120])
def test_names_wrap_and_numbers_stay_whole(
    monkeypatch: pytest.MonkeyPatch, encoding: str, columns: int
) -> None:
    """Every name can be read back from its wrapped lines; no number is cut."""
    text = _render(encoding, columns, monkeypatch)

    assert max(len(line) for line in text.splitlines()) <= columns
    tables = _tables(text)
    assert "\u2026" not in text and "..." not in text
    first_columns = ["".join(row[0] for row in rows) for rows in tables]
    for name in NAMES:
        assert any(name in joined for joined in first_columns), name
    assert any(ROUTE in joined.replace(" ", "") for joined in first_columns)
    cells = {cell for rows in tables for row in rows for cell in row}
    for _, shown in DURATIONS.values():
        assert shown in cells
    assert {"29.3 ms", "3", "500: 1"} <= cells


@pytest.mark.parametrize("columns", [60, 120])
def test_utf8_and_ascii_lay_the_report_out_alike(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """With nothing to respell, both encodings print the very same text."""
    # One report, so its header's time is the same in both (two built
    # moments apart once fell on either side of a second).
    report = _report()

    assert _render("utf-8", columns, monkeypatch, report) == _render(
        "ascii", columns, monkeypatch, report
    )


def test_a_table_that_fits_is_one_table() -> None:
    """1 + (10 + 3) + (5 + 3) + (8 + 3) = 33 columns fit in 60."""
    plan = plan_columns([20, 5, 8], [False, True, True], [False] * 3, 60)

    assert plan == [
        [PlannedColumn(0, False), PlannedColumn(1, True), PlannedColumn(2, True)]
    ]


def test_a_table_too_wide_is_shared_out_with_its_first_column_repeated() -> None:
    """At 30: 14 for the first column, 8 for the next, 11 more would make 33."""
    plan = plan_columns([20, 5, 8], [False, True, True], [False] * 3, 30)

    assert plan == [
        [PlannedColumn(0, False), PlannedColumn(1, True)],
        [PlannedColumn(0, False), PlannedColumn(2, True)],
    ]


def test_a_call_site_too_wide_beside_the_first_column_wraps() -> None:
    """At 60: 14 + (45 + 3) = 62 is too wide, so the call site is folded."""
    plan = plan_columns([40, 5, 45], [False, True, False], [False, False, True], 60)

    assert plan == [
        [PlannedColumn(0, False), PlannedColumn(1, True)],
        [PlannedColumn(0, False), PlannedColumn(2, False)],
    ]


def test_a_first_column_kept_whole_where_its_table_has_room() -> None:
    """A 30-wide call site first: whole beside two numbers (1 + 33 + 16 = 50)."""
    plan = plan_columns(
        [30, 5, 5, 5, 5, 5, 5],
        [False, True, True, True, True, True, True],
        [True, False, False, False, False, False, False],
        50,
    )

    assert plan == [
        [PlannedColumn(0, False), *(PlannedColumn(i, True) for i in range(1, 5))],
        [PlannedColumn(0, True), *(PlannedColumn(i, True) for i in range(5, 7))],
    ]


def test_a_console_narrower_than_the_plain_width_plans_for_the_console() -> None:
    """Columns are planned for the console's 70 cells, not the default 120."""
    stream = io.StringIO()
    # Not a terminal: the renderer's own width is plain_width(), 120.
    renderer = TerminalRenderer(make_console(stream, width=70))
    row = (
        "shop.views.order_detail",
        "apps/shop/views/orders.py:123",
        "12.5 ms",
        "131.3 ms",
        "1250.2 ms",
        "4",
    )
    columns = ("Name", "Call site", "Mean", "p95", "Max", "Queries")
    renderer.section(Section("Slow", columns, (row,) * 2))
    text = stream.getvalue()
    # By hand: 1 + (10+3) + (29+3) + (9+3) + (9+3) + (9+3) + (7+3) = 92 cells:
    # one table at 120, two at 70, and every cell printed whole.
    assert text.count("Slow") == 2
    for cell in row[1:]:
        assert cell in text
    assert max(len(line) for line in text.splitlines()) <= 70


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_at_120_columns_each_name_is_printed_on_one_line(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """The tags go to a table of their own rather than fold every name.

    At 120 columns the operations table's numbers take 1 + (5+3) + 5 x (8+3)
    = 64 cells, leaving 56 for three text columns whose longest words are
    28 (the names), 12 ("MemoryError:") and 28 (the tags): all three cannot
    be whole, and rich narrowed the names and the tags alike, printing
    "concurrent.worke" over "r_task".
    """
    text = _render(encoding, 120, monkeypatch)

    lines = text.splitlines()
    for name in NAMES:
        assert any(f"| {name} " in line for line in lines), name
    assert any("| scenario=database_operations |" in line for line in lines)
    assert any("| MemoryError: 1 |" in line for line in lines)


def test_a_plan_with_words_moves_a_column_rather_than_fold_its_words() -> None:
    """By hand: 1 + (28+3) + (5+3) + 5 x (8+3) + (12+3) + (28+3) = 141 > 120.

    Without the tags, 1 + 31 + 8 + 55 + 15 = 110 fits, so the tags (31
    beside the first column's 32) start a second table.
    """
    needs = [28, 5, 8, 8, 8, 8, 8, 14, 28]
    numeric = [False, True, True, True, True, True, True, False, False]
    words = [28, 5, 8, 8, 8, 8, 8, 12, 28]
    plan = plan_columns(needs, numeric, [False] * 9, 120, words)

    assert [[c.index for c in table] for table in plan] == [
        list(range(8)),
        [0, 8],
    ]
    # Without the words, the floors of ten fit in one table, as before.
    assert len(plan_columns(needs, numeric, [False] * 9, 120)) == 1


@pytest.mark.parametrize(
    ("width", "shares"),
    [
        # Room 50 - (1 + 11) - 2 x 3 = 32: the floors take 20, the name the
        # other 12 (22 of its 28); the error's word (12) would need 2 more.
        (50, {0: 22, 2: 10}),
        # Room 59 - 12 - 6 = 41: the name 28, the error its word 12, the
        # last cell to the error's need (13 of 14).
        (59, {0: 28, 2: 13}),
        # 1 + 31 + 11 + 17 = 60: everything at its widest, nothing to share.
        (60, {}),
    ],
)
def test_text_width_goes_to_the_name_first_then_to_whole_words(
    width: int, shares: dict[int, int]
) -> None:
    """The name's longest word first, another column's only if it then fits."""
    planned = [PlannedColumn(0, False), PlannedColumn(1, True), PlannedColumn(2, False)]

    assert share_text_width([28, 8, 14], [28, 8, 12], planned, width) == shares


def test_a_section_without_rows_prints_its_headings() -> None:
    """A table with headings only is sized by its headings."""
    stream = io.StringIO()
    TerminalRenderer(make_console(stream, width=80)).section(
        Section("Empty", ("Name", "Count"), ())
    )
    assert "| Name | Count |" in stream.getvalue()


@pytest.mark.parametrize(
    ("width", "name"),
    [
        (21, "apps/shop/views.py:123"),
        (22, "apps/shop/views.py:123"),
        (26, "apps/shop/views.py:123"),
        (20, "apps/shop/views.py:123"),
        (21, "\u6f22\u5b57\u6f22\u5b57"),
    ],
)
def test_a_number_beside_a_first_column_narrower_than_the_floor_is_whole(
    width: int, name: str
) -> None:
    """The name is narrowed below the floor, not the table past the console.

    By hand: the border (1), "1,234,567 ms" (12) and two cells' padding and
    border (3 each) take 19 cells, so a 20-column console leaves the name
    one cell, fewer than ``TEXT_FLOOR``; rich used to shrink the table and
    the console cropped it, the number's end and the right border lost.
    A name with a wide character (漢) gets two cells (21 columns): rich
    leaves it out of a column one cell wide.
    """
    stream = io.StringIO()
    TerminalRenderer(make_console(stream, width=width), width=width).section(
        Section("Slow", ("Top call site", "Total"), ((name, "1,234,567 ms"),))
    )
    text = stream.getvalue()
    lines = text.splitlines()

    assert max(cell_len(line) for line in lines) <= width
    assert "| 1,234,567 ms |" in text
    assert all(line[-1] in "+|" for line in lines[1:]), text
    body = lines[[line.startswith("|-") for line in lines].index(True) + 1 : -1]
    first = "".join(line[1:].split("|")[0].strip() for line in body)
    assert first == name


def test_text_narrowed_below_the_floor_keeps_a_wide_character_s_two_cells() -> None:
    """Two text columns and a number in 25 columns: 3 cells for both texts.

    By hand: the border (1) and the number (12 + 3) take 16, the texts'
    padding and borders 6, so 3 cells are left for two columns planned at
    10 each. The name holds a wide character (2 cells): it keeps 2 and the
    other text gets 1; without ``glyphs`` the widest is narrowed first, the
    name to 1 cell, where rich would leave its characters out.
    """
    planned = [PlannedColumn(0, False), PlannedColumn(1, False), PlannedColumn(2, True)]
    needs, words = [40, 40, 12], [2, 5, 12]

    assert share_text_width(needs, words, planned, 25, [2, 1, 1]) == {0: 2, 1: 1}
    assert share_text_width(needs, words, planned, 25) == {0: 1, 1: 2}
