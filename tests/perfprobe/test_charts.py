"""Test the HTML report's charts (``perfprobe.report.charts``) inside the page."""

from __future__ import annotations

import logging
import re
import sys

import pytest
from django.test import override_settings

from perfprobe import PerformanceMonitor
from perfprobe.report import Report, ScenarioResult
from perfprobe.report import charts as charts_module
from perfprobe.report.charts import INSTALL_HINT
from perfprobe.report.html import render_html

from . import hostile
from .report_factories import (
    build,
    checkpoint,
    make_collector,
    memory_block,
    n_plus_one_queries,
    query,
    request,
    run_scope,
)

CHART_TITLES = (
    "Scenario timeline",
    "Endpoint latency",
    "Memory over time",
    "Query time by shape",
)
MB = 1024 * 1024


def _full_report(scenario_name: str = "checkout") -> Report:
    collector = make_collector()
    collector.record_request(request("/api/products/", 200, 0.02), None)
    collector.record_request(request("/api/orders/", 500, 0.3), None)
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    collector.record_query(query("SELECT 1", 0.01), None)
    collector.record_memory(checkpoint("before", 5 * MB))
    collector.record_memory(memory_block("load", 40 * MB))
    collector.record_memory(checkpoint("after", 7 * MB))
    scenarios = [
        ScenarioResult(scenario_name, "", "ok", 0.4, 1_700_000_000.0),
        ScenarioResult("refund", "", "failed", 0.2, 1_700_000_000.5),
    ]
    return build(collector, scenarios=scenarios)


def _chart_section(page: str, title: str) -> str:
    # From the chart's heading to the next heading.
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_each_chart_is_drawn_when_its_data_exists() -> None:
    """A report with scenarios, requests, memory and queries gets four SVG charts."""
    page = render_html(_full_report())
    audit = hostile.PageAudit(page)

    assert audit.charts == 4
    for title in CHART_TITLES:
        section = _chart_section(page, title)
        assert section.count('<figure class="chart"><svg ') == 1, title
        assert "No data" not in section
    assert audit.unexpected_markup() == []
    # The labels the charts draw are real text in the SVG.
    chart_text = "".join(audit.chart_text)
    for label in (
        "checkout",
        "refund",
        "GET /api/products/ (n=1)",
        "GET /api/orders/ (n=1)",
        "in N+1 groups",
        "RSS (whole process)",
        'SELECT * FROM "shop_customer" WHERE "id" = ? (n=6)',
    ):
        assert label in chart_text, label


def test_a_chart_without_data_says_so() -> None:
    """An empty report keeps each chart's heading with a no-data note, no SVG.

    The scenario timeline is the exception: a report with no scenarios (any
    report but a run of scenarios) leaves it out.
    """
    page = render_html(build(make_collector()))

    assert "<svg" not in page
    assert "Scenario timeline" not in page
    assert "no scenarios" not in page
    notes = {
        "Endpoint latency": "No data: no requests were monitored.",
        "Memory over time": "No data: no memory checkpoints or blocks were recorded.",
        "Query time by shape": "No data: no queries were recorded.",
    }
    for title, note in notes.items():
        assert f'<p class="note">{note}</p>' in _chart_section(page, title)


def test_only_the_charts_with_data_are_drawn() -> None:
    """Queries alone draw the query chart; the other three say they have no data."""
    collector = make_collector()
    collector.record_query(query("SELECT 1", 0.01), None)

    page = render_html(build(collector))

    assert page.count("<svg") == 1
    assert "<svg" in _chart_section(page, "Query time by shape")
    assert "No data" in _chart_section(page, "Endpoint latency")


@pytest.mark.django_db
def test_hostile_labels_are_text_inside_the_charts(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Planted markup in scenario names and SQL shows as chart text, never markup."""
    with override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": 1e-9}):
        fresh_monitor.reset()
        hostile.plant(fresh_monitor)
        report = fresh_monitor.generate_report(
            title=hostile.SCRIPT, scenarios=[hostile.hostile_scenario()]
        )

    page = render_html(report, charts=True)
    audit = hostile.PageAudit(page)

    assert audit.charts == 3
    assert audit.unexpected_markup() == []
    chart_text = "".join(audit.chart_text)
    assert hostile.SCENARIO in chart_text
    assert hostile.SQL_ALIAS in chart_text
    # The raw payloads appear only escaped in the page's source.
    for payload in (hostile.SCENARIO, hostile.SQL_ALIAS):
        assert payload not in page


def test_dollar_signs_are_drawn_as_written() -> None:
    """A name with ``$`` pairs, even invalid TeX, is plain text and not mathtext."""
    name = r"$\frac{$ cost $x^2$"

    page = render_html(_full_report(scenario_name=name), charts=True)

    audit = hostile.PageAudit(page)
    assert audit.charts == 4
    assert name in "".join(audit.chart_text)


def test_without_matplotlib_the_page_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """charts=None leaves a one-line hint; charts=True raises ImportError with it."""
    # A None entry makes ``import matplotlib`` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = _full_report()

    page = render_html(report)

    assert "<svg" not in page
    assert "<h2>Charts</h2>" in page
    assert f"matplotlib is missing ({INSTALL_HINT.replace(chr(39), '&#x27;')})" in page
    assert "<h2>Scenarios</h2>" in page
    with pytest.raises(ImportError) as raised:
        render_html(report, charts=True)
    # The error names what to install, as the page's note does.
    assert INSTALL_HINT in str(raised.value)


def test_charts_can_be_left_out() -> None:
    """charts=False renders the tables only, with no chart headings."""
    page = render_html(_full_report(), charts=False)

    assert "<svg" not in page
    assert not any(f"<h2>{title}</h2>" in page for title in CHART_TITLES)


def test_a_chart_that_fails_to_draw_leaves_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A drawing bug costs one chart, logged on perfprobe.report; the page stays."""

    def broken(data: object) -> None:
        raise RuntimeError("drawing bug")

    specs = tuple(
        spec
        if spec.title != "Memory over time"
        else spec.__class__(
            spec.title, spec.caption, spec.empty_note, spec.has_data, broken
        )
        for spec in charts_module._SPECS
    )
    monkeypatch.setattr(charts_module, "_SPECS", specs)

    with caplog.at_level(logging.ERROR, logger="perfprobe.report"):
        page = render_html(_full_report(), charts=True)

    assert page.count("<svg") == 3
    assert "This chart could not be drawn" in _chart_section(page, "Memory over time")
    assert any("Memory over time" in r.getMessage() for r in caplog.records)


def test_charts_leave_matplotlib_settings_as_they_were() -> None:
    """Drawing changes rcParams only for its own duration."""
    import matplotlib

    before = dict(matplotlib.rcParams)

    render_html(_full_report(), charts=True)

    assert dict(matplotlib.rcParams) == before


def test_chart_ids_differ_between_charts() -> None:
    """Clip-path ids are unique in the page, so one chart never clips another."""
    page = render_html(_full_report(), charts=True)

    clip_ids = re.findall(r'<clipPath id="([^"]+)"', page)
    assert len(clip_ids) == 4
    assert len(set(clip_ids)) == len(clip_ids)


def test_names_outside_the_font_are_drawn_without_warnings() -> None:
    """Emoji, CJK and a lone surrogate draw the chart; warnings are errors here."""
    name = "🛒 注文 \udc80"

    page = render_html(_full_report(scenario_name=name), charts=True)

    audit = hostile.PageAudit(page)
    assert audit.charts == 4
    assert "🛒 注文 \\udc80" in "".join(audit.chart_text)


def _latency_page(durations_s: dict[str, list[float]]) -> tuple[str, str]:
    """Return the latency chart's section and drawn text for these requests."""
    collector = make_collector()
    for route, durations in durations_s.items():
        for duration_s in durations:
            collector.record_request(request(route, 200, duration_s), None)
    page = render_html(build(collector), charts=True)
    section = _chart_section(page, "Endpoint latency")
    return section, "".join(hostile.PageAudit(section).chart_text)


def test_latency_chart_of_ms_and_second_endpoints_is_logarithmic() -> None:
    """Beside a 1.3 s endpoint, 2 ms ones stay readable: log axis, labelled lines.

    On a linear axis up to 1.3 s, a 2 ms line is 0.15% of the width.
    """
    section, text = _latency_page(
        {"/api/products/": [0.002] * 5, "/api/slow/": [1.3], "/api/cart/": [0.004]}
    )

    assert "request duration (ms, logarithmic scale)" in text
    # Decades on the axis, as plain numbers of milliseconds.
    for tick in ("10", "100", "1000"):
        assert f">{tick}<" in section, tick
    assert "p50 2.0 ms, max 2.0 ms" in text
    assert "p50 4.0 ms, max 4.0 ms" in text
    assert "p50 1.30 s, max 1.30 s" in text
    assert "The axis is logarithmic" in section


def test_latency_chart_of_close_endpoints_stays_linear() -> None:
    """Endpoints within a factor of 20 of each other keep a linear axis from 0."""
    section, text = _latency_page({"/api/products/": [0.002] * 5, "/api/x/": [0.03]})

    assert "request duration (ms)" in text
    assert "logarithmic" not in section
    assert "p50 30.0 ms, max 30.0 ms" in text
