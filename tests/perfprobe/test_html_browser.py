"""Test how the HTML page lays its tables out in Chromium (see ``browser.py``)."""

from __future__ import annotations

from pathlib import Path

from perfprobe.report import ScenarioResult
from perfprobe.report.html import render_html

from .browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip
from .report_factories import build, make_collector

NAMES = ("database_operations", "concurrent_operations", "error_scenarios")
# As long as the demo's details: the column the browser would rather widen.
DETAILS = {f"detail_{i}": "x" * 30 for i in range(12)}

# The number of lines each cell of the Scenarios table's first column
# takes, measured on its text (a Range's client rectangles, one per line).
_LINES_OF_NAMES = """
() => {
  const table = [...document.querySelectorAll("h2")]
    .find((h) => h.textContent === "Scenarios").nextElementSibling;
  return [...table.querySelectorAll("tr > td:first-child")].map((cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return [cell.textContent, range.getClientRects().length];
  });
}
"""


def test_scenario_names_stay_on_one_line_beside_long_details(tmp_path: Path) -> None:
    """A short name keeps its line; the long details column takes the wrap.

    Every cell could wrap anywhere, so the demo's page showed "database_ope"
    / "rations" and "error_scenario" / "s" while the details ran wide.
    """
    sync_playwright = sync_playwright_or_skip()
    scenarios = [
        ScenarioResult(
            name=name,
            description="",
            status="ok",
            duration_s=0.5,
            started_at=1_700_000_000.0 + index,
            details=DETAILS,
        )
        for index, name in enumerate(NAMES)
    ]
    target = tmp_path / "report.html"
    target.write_text(
        render_html(build(make_collector(), scenarios=scenarios), charts=False),
        encoding="utf-8",
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(target.as_uri())
            page.wait_for_load_state("load")
            lines = page.evaluate(_LINES_OF_NAMES)
        finally:
            browser.close()

    assert lines == [[name, 1] for name in NAMES]
