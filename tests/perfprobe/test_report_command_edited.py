"""Test ``perfprobe_report`` on hand-edited files the schema accepts, and links."""

from __future__ import annotations

import json
import re
from pathlib import Path

from perfprobe.report import Report

from .report_factories import build, make_collector, memory_block
from .test_report_command import refused, saved, show

__all__ = ["saved"]


def test_a_number_too_large_for_the_renderers_is_refused(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """A recommendation's impact of 10**400 s, which the schema accepts: status 2.

    Read, it raised OverflowError out of the command (a traceback, status 1);
    as an endpoint's p50, it ended the terminal report half-way.
    """
    _, path = saved
    data = json.loads(Path(path).read_text())
    data["recommendations"][0]["impact_s"] = 10**400
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(data))

    error = refused(str(huge))

    assert str(error).endswith(
        "huge.json' holds a number beyond a float's range: 100000000000... "
        "(401 digits)."
    )


def test_escape_sequences_in_the_header_of_a_saved_report_are_shown_escaped(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """A file's environment and notes cannot drive the reader's terminal.

    The tables escaped control characters; the lines above them, which a
    report built in the process fills itself, printed a file's as they were.
    """
    _, path = saved
    data = json.loads(Path(path).read_text())
    data["environment"]["python"] = "3.11\x1b]0;owned\x07"
    data["environment"]["database_vendor"] = "sqlite\x1b[2J"
    data["settings"]["threshold_note"] = "note\x9b31m"
    data["settings"]["percentile_note"] = "p\x00"
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(data))

    text = show(str(hostile))

    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    for shown in ("3.11\\x1b]0;owned\\x07", "sqlite\\x1b[2J", "note\\x9b31m", "p\\x00"):
        assert shown in text


def test_a_field_a_later_writer_may_add_to_the_severities_does_not_stop_it(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """summary.recommendations may hold more keys (the schema allows them).

    A value that is not a count made the header's sum fail: the whole report
    was refused, "perfprobe failed to print the report (TypeError)".
    """
    original, path = saved
    data = json.loads(Path(path).read_text())
    counts = data["summary"]["recommendations"]
    counts["by_rule"] = {"N001": 1}
    counts["debug\x1b[2J"] = 2
    extended = tmp_path / "extended.json"
    extended.write_text(json.dumps(data))
    known = sum(original.summary["recommendations"].values())

    text = show(str(extended))

    assert f"{known + 2} recommendations: " in text
    assert "2 debug\\x1b[2J" in text
    assert "by_rule" not in text


def test_the_page_is_not_written_over_the_report_it_is_read_from(
    saved: tuple[Report, str], tmp_path: Path
) -> None:
    """--html-file naming REPORT, or a link to it: status 2, the report kept.

    It was replaced by the HTML page, the only copy of the saved report lost.
    """
    _, path = saved
    before = Path(path).read_bytes()
    link = tmp_path / "link.html"
    link.symlink_to(path)

    same = refused(path, "--html-file", path)
    linked = refused(path, "--html-file", str(link))

    assert str(same) == (
        f"--html-file {path!r} is the report being read; give the page a file "
        "of its own."
    )
    assert str(linked).startswith(f"--html-file {str(link)!r} is the report")
    assert Path(path).read_bytes() == before


def test_the_memory_note_of_a_saved_report_is_shown_escaped(tmp_path: Path) -> None:
    """The note under the Memory table, read from a file, is escaped too."""
    collector = make_collector()
    collector.record_memory(memory_block("load", 1024))
    data = build(collector).to_dict()
    data["memory"]["note"] = "heap\x1b]0;owned\x07"
    hostile = tmp_path / "memory.json"
    hostile.write_text(json.dumps(data))

    text = show(str(hostile))

    assert "Memory" in text
    assert "\x1b" not in text
    assert "heap\\x1b]0;owned\\x07" in text
