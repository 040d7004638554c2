"""Test the ``perfprobe_report`` management command: print and page a saved report."""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from perfprobe import PerformanceMonitor
from perfprobe.compare import run_record
from perfprobe.report import Report, html
from perfprobe.report.charts import charts_available
from perfprobe.report.html import render_html
from perfprobe.report.terminal import TerminalRenderer, make_console
from tests.demo.cli import first_line_then_hang_up, manage

from .report_factories import orders_report

#: 128 + SIGPIPE (13): what a shell reports for a process SIGPIPE ended.
SIGPIPE_STATUS = 141
LIVE_TOKEN = "live-report-token-0123456789"


def show(*args: str) -> str:
    """Run the command in-process and return what it printed."""
    stdout = StringIO()
    call_command("perfprobe_report", *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def refused(*args: str) -> CommandError:
    """Run the command, expect a one-line CommandError with status 2, return it."""
    with pytest.raises(CommandError) as caught:
        show(*args)
    assert "\n" not in str(caught.value)
    assert caught.value.returncode == 2
    return caught.value


def rendered(report: Report) -> str:
    """Return the terminal report of the ``Report`` object itself, as plain text."""
    out = StringIO()
    TerminalRenderer(make_console(out)).render(report)
    return out.getvalue()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Report, str]:
    """Return the orders report and the path it was written to."""
    original = orders_report()
    return original, str(original.write_json(tmp_path / "report.json"))


def test_the_saved_report_prints_as_the_report_itself(
    saved: tuple[Report, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The printout of the file is the printout of the Report that wrote it.

    3 requests of 7 queries: 21 queries, 3 x 1 ms + 18 x 2 ms = 39.0 ms, and
    one N+1 warning of 18 queries in 3 scopes at the factories' call site.
    """
    monkeypatch.setenv("COLUMNS", "120")
    original, path = saved

    output = show(path)

    assert output == rendered(original)
    flat = " ".join(output.split())
    assert "0 operations, 3 requests, 21 queries (39.0 ms), 0 errors." in flat
    assert "| GET /orders/ | 3 | 50.0 ms | 50.0 ms | 200: 3 | 7 | - |" in flat
    assert "1 recommendation: 1 warning" in flat
    assert (
        "1. [WARNING] N+1 queries at apps/shop/views.py:42: one query per row, "
        "18 queries in 3 runs of GET /orders/"
    ) in flat
    assert [line for line in output.splitlines() if line.endswith(" ")] == []


def test_the_page_is_the_page_of_the_report_itself(
    saved: tuple[Report, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--html-file writes the page render_html makes of the original Report."""
    original, path = saved
    out = tmp_path / "report.html"
    # Charts carry random SVG ids; without them the pages compare byte for byte.
    monkeypatch.setattr(html, "charts_available", lambda: False)

    output = show(path, "--html-file", str(out))

    page = out.read_text(encoding="utf-8")
    assert page == render_html(original)
    assert "N+1 queries at apps/shop/views.py:42" in page
    assert "21 queries (39.0 ms)" in page
    assert output.endswith(f"HTML report written to {out}\n")
    assert output.removesuffix(f"HTML report written to {out}\n") == rendered(original)


def test_html_writes_the_page_as_its_earlier_name_html_file_does(
    saved: tuple[Report, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--html is the demo's name; --html-file the same, both naming one file."""
    original, path = saved
    monkeypatch.setattr(html, "charts_available", lambda: False)
    first, second = tmp_path / "first.html", tmp_path / "second.html"

    output = show(path, "--html", str(first))
    show(path, "--html", str(second), "--html-file", str(second))

    assert first.read_text(encoding="utf-8") == render_html(original)
    assert second.read_text(encoding="utf-8") == render_html(original)
    assert output.endswith(f"HTML report written to {first}\n")
    both = refused(path, "--html", "a.html", "--html-file", "b.html")
    assert str(both) == (
        "--html 'a.html' and --html-file 'b.html' name different files; give "
        "one of them (--html-file is another name for --html)."
    )
    assert str(refused(path, "--html", " ")) == "--html is empty; give a file path."
    assert str(refused(path, "--html-file", "")) == (
        "--html-file is empty; give a file path."
    )
    assert not (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists()


def test_a_repeated_report_says_its_tables_are_its_last_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--repeat 3 keeps 3 runs and the last as the report: a header note says so.

    In the terminal report and on the HTML page alike: the page of a
    repeated report said nothing of it before (only perfprobe_report's
    terminal output did, on a line of its own). A ``runs`` whose last entry
    is not the report's own run is "one run of 3".
    """
    monkeypatch.setenv("COLUMNS", "200")
    original = orders_report()
    last = run_record(original.to_dict())
    earlier = [
        {**last, "generated_at": f"2026-01-0{day}T00:00:00+00:00"} for day in (1, 2)
    ]
    repeated = copy.copy(original)
    repeated.runs = [*earlier, last]
    path = repeated.write_json(tmp_path / "repeated.json")
    other = copy.copy(original)
    other.runs = [*earlier, earlier[0]]
    other_path = other.write_json(tmp_path / "other.json")
    note = (
        "This report repeated its scenarios 3 times (the demo's --repeat 3): the "
        "tables below are the last run of 3; perfprobe_compare compares all of "
        "them."
    )

    lines = show(str(path), "--html", str(tmp_path / "r.html")).splitlines()
    other_lines = show(str(other_path)).splitlines()

    # A header note: after the thresholds, before the totals' line.
    assert lines.index(note) < lines.index(
        "0 operations, 3 requests, 21 queries (39.0 ms), 0 errors."
    )
    assert lines.count(note) == 1
    assert note.replace("the last run", "one run") in other_lines
    assert note not in rendered(original)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert note.replace("'", "&#x27;") in page


def test_a_later_1x_report_is_read_as_perfprobe_compare_reads_it(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """Schema 1.1 with a field 1.0 lacks prints as 1.0 does; 2.0 is refused alike.

    Both commands share one rule: any 1.x, nothing else.
    """
    original, path = saved
    data = json.loads(Path(path).read_text())
    later = tmp_path / "later.json"
    later.write_text(json.dumps({**data, "schema_version": "1.1", "added": [1]}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**data, "schema_version": "2.0"}))

    assert show(str(later)) == rendered(original)
    call_command("perfprobe_compare", path, str(later), stdout=StringIO())
    refusals = [refused(str(other))]
    with pytest.raises(CommandError) as caught:
        call_command("perfprobe_compare", path, str(other), stdout=StringIO())
    refusals.append(caught.value)
    assert [str(error) for error in refusals] == [
        f"{name} {str(other)!r} has schema_version '2.0'; this perfprobe reads "
        "1.x reports."
        for name in ("REPORT.json", "NEW.json")
    ]


@pytest.mark.skipif(not charts_available(), reason="needs matplotlib")
def test_the_page_has_the_charts_of_the_report_itself(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """With matplotlib the page draws the same charts under the same headings."""
    original, path = saved
    out = tmp_path / "report.html"

    show(path, "--html-file", str(out))

    page = out.read_text(encoding="utf-8")
    expected = render_html(original)
    headings = re.compile(r"<h2>[^<]*</h2>")
    assert headings.findall(page) == headings.findall(expected)
    assert page.count('<figure class="chart">') == expected.count(
        '<figure class="chart">'
    )
    assert page.count('<figure class="chart">') >= 2


def test_bad_files_are_refused_in_one_line(tmp_path: Path) -> None:
    """A missing file, a non-JSON file and other JSON each exit 2, named."""
    (tmp_path / "page.html").write_text("<html>")
    (tmp_path / "package.json").write_text('{"name": "x"}')

    missing = refused(str(tmp_path / "missing.json"))
    text = refused(str(tmp_path / "page.html"))
    other = refused(str(tmp_path / "package.json"))

    folder = refused(str(tmp_path))
    assert str(missing) == (
        f"REPORT.json '{tmp_path}/missing.json' cannot be read: "
        "No such file or directory."
    )
    assert str(folder) == f"REPORT.json '{tmp_path}' is not a regular file."
    assert "page.html' is not JSON" in str(text)
    assert "package.json' is not a perfprobe report: no schema_version." in str(other)


def test_a_report_the_schema_refuses_is_named(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """A report with a section of the wrong type says where it is wrong."""
    _, path = saved
    data = json.loads(Path(path).read_text())
    data["endpoints"] = {"GET /orders/": 3}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))

    error = refused(str(broken))

    assert "is not a perfprobe report: at endpoints:" in str(error)
    assert "is not of type 'array'" in str(error)


def test_an_unwritable_html_file_prints_nothing_and_keeps_the_old_page(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """No folder, a directory, or an empty name: status 2, no report printed."""
    _, path = saved
    folder = tmp_path / "pages"
    folder.mkdir()
    stdout = StringIO()

    messages = []
    for target in (str(tmp_path / "no" / "r.html"), str(folder), " "):
        with pytest.raises(CommandError) as caught:
            call_command("perfprobe_report", path, "--html-file", target, stdout=stdout)
        assert caught.value.returncode == 2
        messages.append(str(caught.value))

    assert messages == [
        f"--html-file '{tmp_path}/no/r.html': cannot write the report to "
        f"{tmp_path}/no/r.html: No such file or directory.",
        f"--html-file '{folder}': cannot write the report to {folder}: it is not "
        "a regular file.",
        "--html-file is empty; give a file path.",
    ]

    assert stdout.getvalue() == ""
    assert list(folder.iterdir()) == []


def test_a_page_that_fails_to_render_leaves_the_old_one(
    saved: tuple[Report, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault in the HTML renderer: one line, nothing printed, old file kept."""
    _, path = saved
    out = tmp_path / "report.html"
    out.write_text("old page")

    def broken(report: Report) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(
        "perfprobe.management.commands.perfprobe_report.render_html", broken
    )
    stdout = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("perfprobe_report", path, "--html-file", str(out), stdout=stdout)

    assert str(caught.value) == (
        f"--html-file {str(out)!r}: perfprobe failed to render the page "
        "(RuntimeError); details in the perfprobe.report log."
    )
    assert caught.value.returncode == 2
    assert out.read_text() == "old page"
    assert stdout.getvalue() == ""


def test_without_jsonschema_the_command_says_what_to_install(
    saved: tuple[Report, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema check needs jsonschema; its absence is one line, status 2."""
    _, path = saved
    monkeypatch.setitem(sys.modules, "jsonschema", None)

    error = refused(path)

    assert "jsonschema package, which is not installed" in str(error)
    assert "pip install 'django-perfprobe[report]'" in str(error)


def test_the_live_report_json_prints(
    client: Client, fresh_monitor: PerformanceMonitor, tmp_path: Path
) -> None:
    """A report.json saved from the live endpoint prints its 3 calls of one name."""
    for _ in range(3):
        with fresh_monitor.measure_execution_time("checkout"):
            pass
    with override_settings(PERFPROBE={"REPORT_TOKEN": LIVE_TOKEN}):
        response = client.get(
            "/perfprobe/report.json", HTTP_AUTHORIZATION=f"Bearer {LIVE_TOKEN}"
        )
    assert response.status_code == 200
    saved = tmp_path / "live.json"
    saved.write_bytes(response.content)

    output = show(str(saved))

    flat = " ".join(output.split())
    assert f"perfprobe live report, process {os.getpid()}" in flat
    assert "1 operation (3 calls), 0 requests, 0 queries" in flat
    assert "| checkout | 3 |" in flat


# -- the real command line ------------------------------------------------------


def test_cli_statuses_and_one_line_errors(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """0 for a report, 2 with one stderr line for a bad file or option."""
    _, path = saved

    shown = manage("perfprobe_report", path)
    missing = manage("perfprobe_report", str(tmp_path / "missing.json"))
    unwritable = manage(
        "perfprobe_report", path, "--html-file", str(tmp_path / "no" / "r.html")
    )
    typo = manage("perfprobe_report", path, "--htlm", "r.html")

    assert shown.returncode == 0, shown.stderr
    assert "Recommendations" in shown.stdout and shown.stderr == ""
    for result in (missing, unwritable, typo):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
    assert "missing.json" in missing.stderr
    assert "did you mean --html?" in typo.stderr


def test_cli_errors_read_as_the_readme_shows_them(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """stderr is the README's line, "CommandError: " first; 1e400 is not "not JSON".

    1e400 is valid JSON, beyond the range of a float.
    """
    original, _ = saved
    data = original.to_dict()
    data["settings"]["time_scale"] = "TIME_SCALE"
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(data).replace('"TIME_SCALE"', "1e400"))
    missing = tmp_path / "missing.json"

    results = {
        "huge": manage("perfprobe_report", str(huge)),
        "missing": manage("perfprobe_report", str(missing)),
    }

    assert results["huge"].stderr == (
        f"CommandError: REPORT.json '{huge}' holds a number beyond a float's "
        "range: 1e400.\n"
    )
    assert results["missing"].stderr == (
        f"CommandError: REPORT.json '{missing}' cannot be read: No such file or "
        "directory.\n"
    )
    assert {result.returncode for result in results.values()} == {2}


def test_a_reader_that_goes_away_ends_the_command_with_141(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """The reader takes one line and closes the pipe: status 141, no traceback.

    Six hundred stored recommendations make the report far longer than a
    pipe's buffer, so the command is still writing when the pipe closes.
    """
    original, _ = saved
    data = original.to_dict()
    data["recommendations"] = [
        copy.deepcopy(data["recommendations"][0]) for _ in range(600)
    ]
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))

    first, status, errors = first_line_then_hang_up("perfprobe_report", str(big))

    assert first == b"perfprobe report\n"
    assert status == SIGPIPE_STATUS
    assert errors == b""


def test_a_path_from_the_home_folder_is_read_and_written(
    saved: tuple[Report, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~/`` is the home folder, as in the demo's paths (``--html=~/x`` is typed).

    The shell leaves a tilde after ``=`` as it is; the report was looked for
    in a folder named ``~`` in the working directory, and not found.
    """
    original, path = saved
    home = tmp_path / "home"
    home.mkdir()
    Path(path).rename(home / "report.json")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(html, "charts_available", lambda: False)

    output = show("~/report.json", "--html=~/report.html")

    assert (home / "report.html").read_text(encoding="utf-8") == render_html(original)
    assert output.endswith("HTML report written to ~/report.html\n")
    assert not (tmp_path / "~").exists()
    message = str(refused("~/report.json", "--html", "~/report.json"))
    assert message == (
        "--html '~/report.json' is the report being read; give the page a file "
        "of its own."
    )
