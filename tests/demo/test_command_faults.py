"""Tests for run_performance_demo when one of perfprobe's renderers is broken.

A bug in one output (terminal, JSON, HTML with charts) is logged once
through ``perfprobe.report``; the other outputs are still written, a file
the broken one would have replaced keeps its bytes, and the command ends
with one ``CommandError`` naming what failed.
"""

from __future__ import annotations

import json
import logging
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from perfprobe.report.schema import validate_report

FAST = ["--scenarios", "database_operations", "--time-scale", "0.02"]
OLD_JSON = b'{"old": "json"}\n'
OLD_HTML = b"<!doctype html><title>old</title>\n"


class InjectedFault(RuntimeError):
    """The failure planted inside a renderer by a test."""


def broken(*args: Any, **kwargs: Any) -> Any:
    """Stand in for a renderer: raise ``InjectedFault``."""
    raise InjectedFault("injected by the test")


TERMINAL = "perfprobe.report.terminal.TerminalRenderer.render"
HTML = "perfprobe.report.html.render_html"
JSON = "perfprobe.report.jsonio.finite_json_or_raise"
# (the seams broken, the outputs they break)
RENDERER_FAULTS = [
    ((TERMINAL,), {"terminal"}),
    ((HTML,), {"html"}),
    (("perfprobe.report.html.draw_charts",), {"html"}),
    (("perfprobe.report.html.chart_data",), {"html"}),
    ((JSON,), {"json"}),
    ((TERMINAL, JSON, HTML), {"terminal", "json", "html"}),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("seams", "breaks"), RENDERER_FAULTS, ids=lambda v: "+".join(sorted(v))
)
def test_fault_renderer_failure_costs_only_its_own_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    seams: tuple[str, ...],
    breaks: set[str],
) -> None:
    """The broken output is named and logged once; the others are written in full."""
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"
    json_path.write_bytes(OLD_JSON)
    html_path.write_bytes(OLD_HTML)
    for seam in seams:
        monkeypatch.setattr(seam, broken)
    stdout = StringIO()

    with caplog.at_level(logging.DEBUG), pytest.raises(CommandError) as caught:
        call_command(
            "run_performance_demo",
            *FAST,
            "--output-file",
            str(json_path),
            "--html",
            str(html_path),
            stdout=stdout,
            stderr=StringIO(),
        )

    message = str(caught.value)
    assert "\n" not in message
    assert ("terminal report" in message) == ("terminal" in breaks)
    assert ("--output-file" in message) == ("json" in breaks)
    assert ("--html" in message) == ("html" in breaks)
    if "json" in breaks:
        assert json_path.read_bytes() == OLD_JSON
    else:
        validate_report(json.loads(json_path.read_text(encoding="utf-8")))
    if "html" in breaks:
        assert html_path.read_bytes() == OLD_HTML
    else:
        assert "<svg" in html_path.read_text(encoding="utf-8")
    # No temporary file is left behind by the output that failed.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]
    logged = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name == "perfprobe.report"
    ]
    assert len(logged) == len(breaks)
    assert all(isinstance(r.exc_info[1], InjectedFault) for r in logged if r.exc_info)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "seam",
    [
        "perfprobe.collector.Collector.snapshot",
        "perfprobe.report.builder.ReportBuilder.build",
        "perfprobe.report.model.Report.to_dict",
    ],
)
def test_fault_collector_failure_while_building_the_report_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    seam: str,
) -> None:
    """A monitor that cannot give its report ends the command in one line.

    The fault is logged once through ``perfprobe.report``, and the existing
    output files keep their bytes.
    """
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"
    json_path.write_bytes(OLD_JSON)
    html_path.write_bytes(OLD_HTML)
    monkeypatch.setattr(seam, broken)

    with caplog.at_level(logging.DEBUG), pytest.raises(CommandError) as caught:
        call_command(
            "run_performance_demo",
            *FAST,
            "--output-file",
            str(json_path),
            "--html",
            str(html_path),
            stdout=StringIO(),
            stderr=StringIO(),
        )

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("perfprobe failed to build the report (InjectedFault")
    assert json_path.read_bytes() == OLD_JSON
    assert html_path.read_bytes() == OLD_HTML
    (logged,) = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("perfprobe")
    ]
    assert logged.name == "perfprobe.report"
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], InjectedFault)
