"""Render a ``Report`` as one self-contained, fully escaped HTML page."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .chartdata import chart_data
from .charts import INSTALL_HINT, Chart, charts_available, draw_charts
from .header import Header
from .model import SCENARIO_STATUSES, SEVERITIES, Report
from .tables import PAGE_LIMITS, RecommendationItem, Section, build_tables

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d232a; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eaeef2; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
/* A figure and its unit stay on one line; text columns take the wrap. */
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* A heading wraps between words only: "Status" must not break into "Sta tus". */
th { background: #f6f8fa; overflow-wrap: normal; }
/* A call site (shop/views.py:42) is one name: it never breaks inside. */
.site { white-space: nowrap; overflow-wrap: normal; }
/* A row's name (scenario, operation) breaks inside a word only when that
   word alone is wider than the page: wrapping anywhere let a long details
   column squeeze it to "database_ope" / "rations". */
td:first-child:not(.site) { overflow-wrap: break-word; }
code { font: 12px ui-monospace, monospace; word-break: break-all; }
.note { color: #57606a; }
.critical { color: #b42318; } .warning { color: #9a6700; } .info { color: #0969da; }
.ok { color: #1a7f37; } .failed { color: #b42318; font-weight: bold; }
ol li { margin-bottom: .75rem; }
figure.chart { margin: .5rem 0; }
/* Charts shrink to the page; their viewBox keeps the proportions. */
figure.chart svg { max-width: 100%; height: auto; display: block; }
""".strip()


# The page runs no script and loads nothing. Declared in the page itself, the
# policy also guards a report written to a file and opened from disk: a value
# that ever slipped past escaping still could not run or call out.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)


_STATUSES = frozenset(SCENARIO_STATUSES)
#: The columns whose cells are a call site, ``path:line``.
SITE_COLUMNS = frozenset({"Call site", "Top call site"})
_SEVERITIES = frozenset(SEVERITIES)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _row(section: Section, cells: Sequence[str], tag: str) -> str:
    # Every cell is escaped here, in one place, so no section can forget.
    numeric = section.numeric
    parts = []
    for column, text in zip(section.columns, cells, strict=True):
        classes = []
        # A class comes from a fixed list, never from a value, so no recorded
        # text can restyle the page.
        if tag == "td" and column == section.status_column and text in _STATUSES:
            classes.append(text)
        if column in numeric:
            classes.append("num")
        if column in SITE_COLUMNS:
            classes.append("site")
        attribute = f' class="{_e(" ".join(classes))}"' if classes else ""
        parts.append(f"<{tag}{attribute}>{_e(text)}</{tag}>")
    return "<tr>" + "".join(parts) + "</tr>"


def _section(section: Section) -> list[str]:
    parts = [f"<h2>{_e(section.title)}</h2>"]
    if section.subtitle:
        parts.append(_note(section.subtitle))
    parts.append("<table>")
    parts.append(_row(section, section.columns, "th"))
    parts.extend(_row(section, row, "td") for row in section.rows)
    parts.append("</table>")
    parts.extend(_note(note) for note in section.notes)
    return parts


def _header(header: Header) -> list[str]:
    facts = " · ".join([f"Generated {header.generated_at}", *header.environment])
    return [
        f"<h1>{_e(header.title)}</h1>",
        _note(facts),
        f"<p>{_e(header.totals)}</p>",
        _note(header.thresholds),
        *(_note(note) for note in header.notes),
    ]


def _recommendations(recommendations: Sequence[RecommendationItem]) -> list[str]:
    parts = ["<h2>Recommendations</h2>"]
    if not recommendations:
        return [*parts, "<p>None: nothing crossed a threshold.</p>"]
    parts.append("<ol>")
    for rec in recommendations:
        css = rec.severity if rec.severity in _SEVERITIES else "note"
        parts.append(
            f'<li><strong class="{css}">[{_e(rec.severity.upper())}]'
            f"</strong> <strong>{_e(rec.title)}</strong> "
            f'<span class="note">({_e(rec.rule_id)})</span>'
            f"<br>Evidence: <code>{_e(rec.evidence)}</code>"
            f"<br>Suggestion: {_e(rec.suggestion)}</li>"
        )
    parts.append("</ol>")
    return parts


def _chart(chart: Chart) -> list[str]:
    parts = [f"<h2>{_e(chart.title)}</h2>", _note(chart.caption)]
    if chart.svg is None:
        return [*parts, _note(chart.empty_note)]
    # The SVG is matplotlib's output, not report text: matplotlib escapes
    # the labels it draws (and chartdata made them printable first).
    return [*parts, f'<figure class="chart">{chart.svg}</figure>']


def _charts(report: Report, charts: bool | None) -> list[str]:
    if charts is False:
        return []
    if charts is None and not charts_available():
        return [
            "<h2>Charts</h2>",
            _note(f"Charts are not drawn: matplotlib is missing ({INSTALL_HINT})."),
        ]
    drawn = draw_charts(chart_data(report.to_dict()))
    return [line for chart in drawn for line in _chart(chart)]


def render_html(
    report: Report,
    *,
    charts: bool | None = None,
    sections: Sequence[Section] = (),
) -> str:
    """Return ``report`` as a complete HTML document with inline CSS and SVG.

    Every value taken from the report is escaped with ``html.escape``, so SQL,
    labels and messages cannot inject markup into the page. ``charts`` True
    draws the charts as inline SVG and raises ``ImportError`` without
    matplotlib (the ``report`` extra); ``None`` draws them when matplotlib is
    installed and says how to get it otherwise; ``False`` leaves them out.
    ``sections`` are tables the caller built from the report (the demo's
    load test, say), shown after the report's own and escaped the same way.
    """
    tables = build_tables(report, PAGE_LIMITS)
    # In a browser the answer comes first: what to change, then the charts
    # and the tables that back it up.
    body = [
        *_header(tables.header),
        *_recommendations(tables.recommendations),
        *_charts(report, charts),
        *(line for section in tables.sections for line in _section(section)),
        *(line for section in sections for line in _section(section)),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" '
            f'content="{_e(CONTENT_SECURITY_POLICY)}">',
            f"<title>{_e(tables.header.title)}</title>",
            f"<style>\n{_CSS}\n</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
