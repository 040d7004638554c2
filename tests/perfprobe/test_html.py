"""Test the self-contained HTML page (``perfprobe.report.html``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfprobe import PerformanceMonitor
from perfprobe.report import Report, ScenarioResult
from perfprobe.report.html import _CSS, CONTENT_SECURITY_POLICY, render_html
from perfprobe.report.tables import Section

from . import hostile
from .report_factories import (
    build,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    query,
    run_scope,
)

NASTY_SQL = "SELECT '<script>alert(1)</script>' FROM \"t\" WHERE a = '&amp;'"
NASTY_LABEL = '<img src=x onerror="alert(2)">'


def _page() -> str:
    collector = make_collector()
    collector.record_query(query(NASTY_SQL, 0.9, call_site="<b>x.py:1</b>"), None)
    collector.record_operation(operation(NASTY_LABEL, 2.0), None)
    collector.record_memory(memory_block(NASTY_LABEL, 200 * 1024 * 1024))
    scenario = ScenarioResult(
        name="</td><td>",
        description="",
        status="ok",
        duration_s=0.1,
        started_at=1_700_000_000.0,
    )
    return render_html(build(collector, title="<h1>t</h1>", scenarios=[scenario]))


def test_sql_and_labels_are_escaped() -> None:
    """Escape SQL, labels, call sites and titles so they cannot add markup."""
    page = _page()
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>x.py" not in page
    assert "<h1>t</h1>" not in page
    assert "<td>&lt;/td&gt;&lt;td&gt;</td>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "&amp;amp;" in page


def test_page_is_self_contained() -> None:
    """Inline the CSS and load nothing from elsewhere."""
    page = _page()
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert "<link" not in page
    assert "src=" not in page.replace("&lt;img src=x", "")
    assert "http:" not in page and "https:" not in page and "//" not in page


def test_page_has_the_report_sections() -> None:
    """Render the tables and the recommendation list."""
    page = _page()
    for heading in ("Scenarios", "Operations", "Queries", "Memory", "Recommendations"):
        assert f"<h2>{heading}</h2>" in page
    assert "<ol>" in page
    assert 'class="warning"' in page


@pytest.mark.django_db
def test_no_recorded_text_becomes_markup(fresh_monitor: PerformanceMonitor) -> None:
    """Parse a page full of planted markup: only the renderer's own elements remain."""
    with override_settings(
        PERFPROBE={"STORE_SQL_PARAMETERS": True, "SLOW_QUERY_SECONDS": 1e-9}
    ):
        fresh_monitor.reset()
        hostile.plant(fresh_monitor)
        report = fresh_monitor.generate_report(
            title=hostile.SCRIPT, scenarios=[hostile.hostile_scenario()]
        )
    audit = hostile.PageAudit(render_html(report))
    assert audit.unexpected_markup() == []
    assert audit.style == [f"\n{_CSS}\n"]
    assert audit.title == [hostile.SCRIPT]
    text = audit.visible_text
    for planted in (
        hostile.SCRIPT,
        hostile.OPERATION,
        f"{hostile.TAG_KEY}={hostile.TAG_VALUE}",
        hostile.SCOPE,
        hostile.SQL_ALIAS,
        hostile.SQL_LITERAL,
        hostile.CALL_SITE_FILE,
        hostile.ERROR_TYPE,
        hostile.ERROR_MESSAGE,
        hostile.MEMORY_LABEL,
        hostile.SCENARIO,
    ):
        assert planted in text, planted


def test_page_declares_a_no_script_policy() -> None:
    """The page's own CSP forbids scripts and every load, for files opened from disk."""
    page = _page()
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    audit = hostile.PageAudit(page)
    assert ("http-equiv", "Content-Security-Policy") in audit.attributes
    assert ("content", CONTENT_SECURITY_POLICY) in audit.attributes


def test_page_totals_name_queries_outside_any_scope() -> None:
    """The page's totals line says how many of the queries no scope held."""
    collector = make_collector()
    for _ in range(2):
        collector.record_query(query("SELECT 1", 0.001), None)
    run_scope(collector, "GET /orders/", [query("SELECT 2", 0.001)])

    page = render_html(build(collector))

    assert "3 queries (" in page
    assert "2 outside any scope)" in page


# -- generated hostile text -------------------------------------------------------

# Markup's own characters and the sequences that end a raw-text element,
# open a comment or a CDATA section, or write a character reference.
_HOSTILE_PIECES = st.sampled_from(
    [
        "<",
        ">",
        "&",
        '"',
        "'",
        "/",
        "=",
        "<script>",
        "</style>",
        "</title>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "&amp;",
        "&#60;",
        "&lt",
        "<svg onload=",
        "javascript:",
        " ",
        "x",
        "é",
        "\u202e",
    ]
)
HOSTILE_TEXT = st.lists(_HOSTILE_PIECES, min_size=1, max_size=6).map("".join)
HOSTILE_SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _hostile_report(text: str) -> Report:
    """Put ``text`` in every name, tag, label, SQL, call site and title."""
    collector = make_collector()
    event = replace(operation(text, 2.0, error_type=text), tags={text: text})
    collector.record_operation(event, None)
    collector.record_query(
        query(f'SELECT ? AS "{text}"', 0.9, call_site=f"{text}.py:1"), None
    )
    collector.record_memory(memory_block(text, 200 * 1024 * 1024))
    scenario = ScenarioResult(
        name=text,
        description=text,
        status="failed",
        duration_s=0.1,
        started_at=1_700_000_000.0,
        error={"type": text, "message": text},
    )
    return build(collector, title=text, scenarios=[scenario])


def _assert_shown_as_text(page: str, text: str) -> hostile.PageAudit:
    audit = hostile.PageAudit(page)
    assert audit.unexpected_markup() == []
    assert audit.title == [text]
    assert text in audit.visible_text
    return audit


@HOSTILE_SETTINGS
@given(HOSTILE_TEXT)
def test_generated_hostile_text_is_shown_never_parsed(text: str) -> None:
    """Any mix of markup characters in any field is shown as text, adding nothing."""
    _assert_shown_as_text(render_html(_hostile_report(text), charts=False), text)


@settings(HOSTILE_SETTINGS, max_examples=8)
@given(HOSTILE_TEXT)
def test_generated_hostile_text_in_charts_adds_no_markup(text: str) -> None:
    """The same text in the charts' labels leaves only matplotlib's own SVG."""
    audit = _assert_shown_as_text(render_html(_hostile_report(text), charts=True), text)
    assert audit.charts >= 3


def test_caller_sections_follow_the_reports_tables_escaped() -> None:
    """A table the caller adds comes last, escaped, its counts right-aligned."""
    extra = Section(
        title="Load <b>test</b>",
        subtitle="a & b",
        columns=("Endpoint", "Count"),
        rows=(("GET /<script>x</script>/", "1,234"),),
        notes=('Note "quoted" <i>',),
    )

    page = render_html(build(make_collector()), charts=False, sections=[extra])
    plain = render_html(build(make_collector()), charts=False)

    assert "<h2>Load &lt;b&gt;test&lt;/b&gt;</h2>" in page
    assert '<p class="note">a &amp; b</p>' in page
    assert '<tr><th>Endpoint</th><th class="num">Count</th></tr>' in page
    assert (
        "<tr><td>GET /&lt;script&gt;x&lt;/script&gt;/</td>"
        '<td class="num">1,234</td></tr>'
    ) in page
    assert '<p class="note">Note &quot;quoted&quot; &lt;i&gt;</p>' in page
    assert page.rindex("<h2>") == page.index("<h2>Load &lt;b&gt;")
    assert "Load" not in plain


def test_call_sites_are_kept_whole_in_the_tables() -> None:
    """A call-site cell never wraps: "apps/shop/views.py:42" stays one line.

    Table cells otherwise wrap anywhere (long SQL, names), which broke a
    call site as "apps/shop/vie" / "ws.py:42".
    """
    collector = make_collector()
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))

    page = render_html(build(collector), charts=False)

    # The Queries table's top call site and the N+1 table's call site.
    assert page.count('<td class="site">apps/shop/views.py:42</td>') == 2
    assert '<th class="site">Call site</th>' in page
    assert ".site { white-space: nowrap; overflow-wrap: normal; }" in _CSS
