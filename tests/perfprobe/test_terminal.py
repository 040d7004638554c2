"""Test the rich terminal rendering of reports (``perfprobe.report.terminal``)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from perfprobe.collector import Collector
from perfprobe.report import Report, ScenarioResult
from perfprobe.report.html import render_html
from perfprobe.report.terminal import (
    MAX_PLAIN_WIDTH,
    PLAIN_WIDTH,
    TerminalRenderer,
    make_console,
    plain_width,
)

from .report_factories import (
    build,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    query,
    request,
    run_scope,
)


@pytest.fixture(autouse=True)
def _no_forced_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich honours these variables over the stream type; a CI that sets them
    # must not change what these tests see.
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _report() -> Report:
    collector: Collector = make_collector()
    collector.record_operation(operation("[bold]checkout[/bold]", 1.5), None)
    collector.record_query(query("SELECT slow", 0.7), None)
    collector.record_request(request("/orders/", 200, 0.02, query_count=6), None)
    collector.record_request(request("/orders/", 500, 0.03), None)
    collector.record_memory(memory_block("build_index", 120 * 1024 * 1024))
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    scenario = ScenarioResult(
        name="database_operations",
        description="",
        status="failed",
        duration_s=1.2,
        started_at=1_700_000_000.0,
        error={"type": "RuntimeError", "message": "boom"},
    )
    return build(collector, scenarios=[scenario], latency_note="Injected x 0.05.")


def _render(console: Console, report: Report) -> str:
    TerminalRenderer(console).render(report)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def _plain(report: Report) -> str:
    """Render ``report`` as the commands do to a file or a pipe."""
    stream = io.StringIO()
    TerminalRenderer(make_console(stream)).render(report)
    return stream.getvalue()


def test_plain_text_when_not_a_terminal() -> None:
    """Write no ANSI escapes to a console that is not a terminal."""
    output = _render(Console(file=io.StringIO()), _report())
    assert "\x1b[" not in output
    assert max(len(line) for line in output.splitlines()) <= PLAIN_WIDTH


def test_sections_and_recommendations_are_printed() -> None:
    """Print every table and the numbered recommendations with their advice."""
    output = _plain(_report())
    for title in ("Scenarios", "Operations", "Endpoints", "Queries", "Memory"):
        assert title in output
    assert "N+1 patterns" in output
    assert "Errors" in output
    assert "Recommendations" in output
    assert "1. [CRITICAL]" in output
    assert "Suggestion: " in output
    assert "Evidence: " in output
    assert "RuntimeError: boom" in output
    assert "1,500 ms" in output
    assert "Injected x 0.05." in output


def test_markup_in_names_is_printed_literally() -> None:
    """Show rich markup inside an operation name as the text it is."""
    output = _plain(_report())
    assert "[bold]checkout[/bold]" in output


def test_make_console_for_a_stream_is_plain_and_wide() -> None:
    """Build a non-terminal console with no colour, no emoji and 120 columns."""
    console = make_console(io.StringIO())
    assert console.is_terminal is False
    assert console.width == PLAIN_WIDTH
    assert console.no_color is True


def test_terminal_output_is_coloured() -> None:
    """Colour the severities when the console is a terminal."""
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    assert "\x1b[" in _render(console, _report())


def test_empty_report_says_there_is_nothing_to_recommend() -> None:
    """Print a short line instead of an empty recommendation list."""
    output = _plain(build(make_collector()))
    assert "Recommendations: none" in output
    assert "Operations" not in output


def test_control_characters_are_shown_escaped() -> None:
    """An escape sequence in a recorded name cannot drive the reader's terminal."""
    collector = make_collector()
    collector.record_operation(operation("job\x1b[2J\x07", 0.01), None)
    text = _plain(build(collector))
    assert "\x1b" not in text and "\x07" not in text
    assert "job\\x1b[2J\\x07" in text


def test_totals_name_queries_outside_any_scope_only_when_there_are_some() -> None:
    """3 unscoped of 4 queries are shown in the totals; none means no mention."""
    collector = make_collector()
    for _ in range(3):
        collector.record_query(query("SELECT 1", 0.001), None)
    run_scope(collector, "GET /orders/", [query("SELECT 2", 0.001)])
    scoped_only = make_collector()
    run_scope(scoped_only, "GET /orders/", [query("SELECT 2", 0.001)])

    with_outside = _plain(build(collector))
    without = _plain(build(scoped_only))

    assert "4 queries (" in with_outside
    assert "3 outside any scope)" in with_outside
    assert "outside any scope" not in without


# -- the plain-text width: COLUMNS ----------------------------------------------

#: An operation name wider than 120 columns but narrower than 300.
LONG_NAME = "nightly-import-" + "x" * 135


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        (None, 120),
        ("100", 100),
        ("200", 200),
        (" 90 ", 90),
        ("60", 60),
        ("59", 60),
        ("1", 60),
        ("1000", 1000),
        ("1001", 1000),
        ("99999999999999999999", 1000),
        ("0", 120),
        ("-80", 120),
        ("", 120),
        ("abc", 120),
        ("80.5", 120),
        ("8e1", 120),
        ("9" * 5000, 120),
    ],
)
def test_plain_width_honours_a_sane_columns_and_clamps_the_rest(
    columns: str | None, width: int
) -> None:
    """COLUMNS 60-1000 is used as is; beyond is clamped; not a count gives 120."""
    environ = {} if columns is None else {"COLUMNS": columns}
    assert plain_width(environ) == width


def test_plain_width_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without an explicit mapping, COLUMNS comes from os.environ."""
    assert plain_width() == 120
    monkeypatch.setenv("COLUMNS", "100")
    assert plain_width() == 100
    assert make_console(io.StringIO()).width == 100
    assert make_console(io.StringIO(), width=70).width == 70


def _long_name_report() -> Report:
    collector = make_collector()
    collector.record_operation(operation(LONG_NAME, 0.01), None)
    return build(collector)


def test_plain_report_follows_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS=300 keeps a 150-character name whole; without it, 120 wraps it."""
    unset = _plain(_long_name_report())
    monkeypatch.setenv("COLUMNS", "300")
    wide = _plain(_long_name_report())

    assert len(LONG_NAME) == 150
    assert max(len(line) for line in unset.splitlines()) <= 120
    assert LONG_NAME not in unset
    assert LONG_NAME in wide
    assert 150 < max(len(line) for line in wide.splitlines()) <= 300


@pytest.mark.parametrize(("columns", "limit"), [("72", 72), ("10", 60), ("x", 120)])
def test_plain_report_at_a_narrow_or_absurd_columns_still_renders(
    monkeypatch: pytest.MonkeyPatch, columns: str, limit: int
) -> None:
    """A narrow COLUMNS is obeyed down to 60; nonsense falls back to 120."""
    monkeypatch.setenv("COLUMNS", columns)
    output = _plain(_report())

    assert max(len(line) for line in output.splitlines()) <= limit
    for title in ("Operations", "Endpoints", "Recommendations"):
        assert title in output


def _bytes_stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, newline="\n")


def _written(stream: io.TextIOWrapper) -> bytes:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue()


def test_ascii_stream_gets_the_whole_report_without_an_error() -> None:
    """PYTHONIOENCODING=ascii once ended the demo's report in a traceback."""
    collector = make_collector()
    # An operation name no ASCII stream can hold, and the report's own
    # typographic characters (the ellipsis of a shortened name, dashes).
    collector.record_operation(
        operation("caf\u00e9 \u2014 r\u00e9sum\u00e9", 0.5), None
    )
    collector.record_operation(operation(LONG_NAME + "\u2026", 0.01), None)
    stream = _bytes_stream("ascii")
    TerminalRenderer(make_console(stream)).render(build(collector))

    text = _written(stream).decode("ascii")  # raises if anything is not ASCII
    assert "caf? - r?sum?" in text
    (row,) = [line for line in text.splitlines() if "caf? - r?sum?" in line]
    assert "500 ms" in row
    assert text.rstrip().endswith("nothing crossed a threshold.")


def test_force_color_on_an_ascii_stream_does_not_fail() -> None:
    stream = _bytes_stream("ascii")
    console = make_console(stream, force_color=True)
    console.print("a \u2026 b \u00e9")
    written = _written(stream)
    assert b"a ... b ?" in written
    assert console.is_terminal


def test_force_color_on_a_pipe_keeps_the_plain_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``perfprobe_report r.json --force-color | less -R``: 120 columns.

    The coloured report to a pipe was 80 columns wide (rich's fallback),
    while the plain one, and the README, say 120 unless COLUMNS sets another.
    """
    monkeypatch.delenv("COLUMNS", raising=False)
    console = make_console(io.StringIO(), force_color=True)
    assert console.is_terminal
    assert console.width == PLAIN_WIDTH == 120
    assert make_console(io.StringIO(), force_color=True, width=90).width == 90
    monkeypatch.setenv("COLUMNS", "5000")
    assert make_console(io.StringIO(), force_color=True).width == MAX_PLAIN_WIDTH


def test_utf8_and_text_streams_are_written_unchanged() -> None:
    stream = _bytes_stream("utf-8")
    make_console(stream).print("caf\u00e9 \u2026", highlight=False)
    assert _written(stream).decode("utf-8").startswith("caf\u00e9 \u2026")
    text = io.StringIO()
    make_console(text).print("caf\u00e9 \u2026", highlight=False)
    assert text.getvalue().startswith("caf\u00e9 \u2026")


def test_latin1_stream_keeps_what_it_can_encode() -> None:
    stream = _bytes_stream("latin-1")
    make_console(stream).print("caf\u00e9 \u2026 \u65e5", highlight=False)
    assert _written(stream).decode("latin-1").startswith("caf\u00e9 ... ?")


def test_plain_lines_end_without_spaces_and_tables_stay_aligned() -> None:
    """rich pads titles and wrapped lines to the width; none of that is kept."""
    output = _plain(_report())
    lines = output.splitlines()

    assert [line for line in lines if line.endswith(" ")] == []
    # The title of a table, padded to the table's width before.
    assert "Operations" in lines
    # An ASCII table's every line spans the same width, from border to border.
    for top, line in enumerate(lines):
        if line.startswith("+-"):
            bottom = lines.index(line, top + 1)
            rows = lines[top : bottom + 1]
            assert {len(row) for row in rows} == {len(line)}
            assert all(row[0] in "+|" and row[-1] in "+|" for row in rows)
            break
    else:
        raise AssertionError("no table in the report")


def test_spaces_a_line_goes_on_with_are_kept() -> None:
    """Spaces at the end of one write stay when the next write goes on the line."""
    stream = io.StringIO()
    console = make_console(stream)
    console.print("total: ", end="")
    console.print("3  ", end="")
    console.print(" queries   ")

    assert stream.getvalue() == "total: 3   queries\n"


def test_queries_per_request_is_whole_when_the_mean_is() -> None:
    """Queries/req reads 21 and 0 for whole means, one decimal otherwise.

    README and perfprobe_compare print whole numbers; the tables did too
    (``21.0``, ``0.0``) before. The HTML page shares the same cells.
    """
    collector: Collector = make_collector()
    for count in (21, 21):
        collector.record_request(request("/list/", 200, 0.02, query_count=count), None)
    for count in (2, 3):
        collector.record_request(request("/half/", 200, 0.02, query_count=count), None)
    collector.record_request(request("/quiet/", 200, 0.02), None)
    report = build(collector)

    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in _plain(report).splitlines()
        if line.startswith("| GET /")
    }
    assert rows["GET /list/"][4] == "21"
    assert rows["GET /half/"][4] == "2.5"
    assert rows["GET /quiet/"][4] == "0"
    page = render_html(report, charts=False)
    assert ">21.0<" not in page and ">0.0<" not in page
    assert ">21<" in page and ">2.5<" in page


def test_totals_count_operations_as_the_table_does_and_say_the_calls() -> None:
    """Two names called 3 and 1 times: 2 operations (4 calls), as in the table."""
    collector = make_collector()
    for _ in range(3):
        collector.record_operation(operation("checkout", 0.001), None)
    collector.record_operation(operation("invoice", 0.001), None)
    once = make_collector()
    once.record_operation(operation("checkout", 0.001), None)

    assert "2 operations (4 calls), 0 requests" in _plain(build(collector))
    assert "1 operation, 0 requests" in _plain(build(once))


def test_evidence_shows_a_time_against_its_limit_as_the_title_does() -> None:
    """500.3 ms over a 500 ms limit reads 500.3 ms in the title and the evidence."""
    collector = make_collector(SLOW_OPERATION_SECONDS=0.5)
    collector.record_operation(operation("checkout", 0.5003), None)

    output = _plain(build(collector))

    assert "500.3 ms (limit 500 ms)" in output
    assert "max_s: 500.3 ms" in output and "max_s: 500 ms" not in output
