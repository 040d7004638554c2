"""Tests for the load test's table (apps/debugging/load/cli.py) in both reports.

The load run's figures are written by hand, and so is every cell the table
must show for them: counts with thousands separators, the error rate as a
percentage, requests per second to one decimal and latencies in ms.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from apps.debugging.load.cli import load_sections, render_load_results
from perfprobe.report import Report, ScenarioResult
from perfprobe.report.html import render_html
from perfprobe.report.terminal import make_console
from tests.perfprobe.report_factories import build, make_collector

from .html_tables import html_tables

HOSTILE_ENDPOINT = "GET /api/<script>alert(1)</script>/"
COLUMNS = [
    "Endpoint",
    "Side",
    "Count",
    "Errors",
    "Error rate",
    "Req/s",
    "p50",
    "p95",
    "p99",
    "Max",
]


def figures(
    count: int, errors: int, rps: float, p50: float, p95: float, p99: float, top: float
) -> dict[str, Any]:
    """Return one endpoint's summary as the load scenario writes it."""
    return {
        "count": count,
        "errors": errors,
        "error_rate": errors / count,
        "throughput_rps": rps,
        "p50_s": p50,
        "p95_s": p95,
        "p99_s": p99,
        "max_s": top,
    }


def load_details() -> dict[str, Any]:
    """Return a load run of 1,250 requests over two endpoints, known figures."""
    client = {
        "all": figures(1250, 5, 62.5, 0.02, 0.3, 0.75, 1.5),
        "GET /api/products/": figures(1000, 0, 50.0, 0.0123, 0.0456, 0.099, 0.2),
        HOSTILE_ENDPOINT: figures(250, 5, 12.5, 0.0005, 0.25, 0.75, 1.5),
    }
    server = {
        "GET /api/products/": figures(1000, 0, 50.0, 0.01, 0.04, 0.09, 0.15),
        HOSTILE_ENDPOINT: figures(250, 5, 12.5, 0.0004, 0.2, 0.7, 1.4),
        "all": figures(1250, 5, 62.5, 0.015, 0.25, 0.7, 1.4),
    }
    return {
        "clients": 4,
        "requests_planned": 1500,
        "requests_sent": 1250,
        "server_recorded": 1250,
        "time_limit_s": 20.0,
        "stopped_early": True,
        "elapsed_s": 20.0,
        "error_definition": "An error is a 5xx answer or no answer",
        "client_side": client,
        "server_side": server,
    }


#: The rows the table must show for ``load_details()``, cells split at "|":
#: endpoints in the clients' order, each client row then its server row, the
#: total last.
EXPECTED_ROWS = [
    row.split("|")
    for row in (
        "GET /api/products/|client|1,000|0|0.0%|50.0|12.3 ms|45.6 ms|99.0 ms|200 ms",
        "|server|1,000|0|0.0%|50.0|10.0 ms|40.0 ms|90.0 ms|150 ms",
        f"{HOSTILE_ENDPOINT}|client|250|5|2.0%|12.5|0.500 ms|250 ms|750 ms|1,500 ms",
        "|server|250|5|2.0%|12.5|0.400 ms|200 ms|700 ms|1,400 ms",
        "all|client|1,250|5|0.4%|62.5|20.0 ms|300 ms|750 ms|1,500 ms",
        "|server|1,250|5|0.4%|62.5|15.0 ms|250 ms|700 ms|1,400 ms",
    )
]


def load_report(*, with_load: bool = True) -> Report:
    """Return a report with an ok scenario and, if asked, a load run."""
    scenarios = [
        ScenarioResult(
            name="api_requests",
            description="",
            status="ok",
            duration_s=0.5,
            started_at=1_700_000_000.0,
        )
    ]
    if with_load:
        scenarios.append(
            ScenarioResult(
                name="load",
                description="",
                status="ok",
                duration_s=20.0,
                started_at=1_700_000_001.0,
                details=load_details(),
            )
        )
    return build(make_collector(), scenarios=scenarios)


def test_html_report_shows_the_load_table_row_for_row() -> None:
    """The page's "Load test" table holds the hand-computed cells, escaped."""
    report = load_report()

    page = render_html(report, charts=False, sections=load_sections(report))
    tables = html_tables(page)

    assert tables["Load test"][0] == COLUMNS
    assert tables["Load test"][1:] == EXPECTED_ROWS
    assert "<script>alert(1)" not in page
    assert "GET /api/&lt;script&gt;alert(1)&lt;/script&gt;/" in page
    assert "4 clients, 1,250 of 1,500 requests sent in 20.00 s" in page
    assert "no request was started after the time limit of 20 s" in page
    # After the report's own tables, as on the terminal.
    assert page.index("<h2>Load test</h2>") > page.index("<h2>Scenarios</h2>")


def test_terminal_and_page_show_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row of the page's table is a line of the terminal's table too."""
    report = load_report()
    stream = io.StringIO()
    # Wide enough that no row wraps, so each is one line to look for.
    monkeypatch.setenv("COLUMNS", "200")

    render_load_results(make_console(stream), report)
    lines = stream.getvalue().splitlines()

    for row in EXPECTED_ROWS:
        cells = [cell for cell in row if cell]
        assert any(all(cell in line for cell in cells) for line in lines), row


def test_a_report_without_a_finished_load_run_has_no_load_table() -> None:
    """No load scenario, or one that failed before its figures: no table."""
    failed = load_report(with_load=False)
    failed.scenarios.append(
        ScenarioResult(
            name="load",
            description="",
            status="failed",
            duration_s=0.1,
            started_at=1_700_000_001.0,
            error={"type": "RuntimeError", "message": "no server"},
        )
    )

    assert load_sections(load_report(with_load=False)) == []
    assert load_sections(failed) == []
    assert "Load test" not in render_html(failed, charts=False)
