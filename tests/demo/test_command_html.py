"""Test run_performance_demo's HTML report: ``--html``, its alias and its charts.

The browser test opens the written file from disk in headless Chromium (see
``tests/perfprobe/browser.py`` for when it skips) and saves a screenshot in
``build/screenshots``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from perfprobe.report.charts import INSTALL_HINT
from tests.demo.html_tables import html_tables
from tests.perfprobe import hostile
from tests.perfprobe.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    png_size,
    sync_playwright_or_skip,
)

COMMAND = "run_performance_demo"
SCENARIOS = "database_operations,api_requests,memory_intensive,error_scenarios"
SCREENSHOT = settings.BASE_DIR / "build" / "screenshots" / "html-report.png"
CHART_TITLES = (
    "Scenario timeline",
    "Endpoint latency",
    "Memory over time",
    "Query time by shape",
)


def run_command(*args: str) -> str:
    """Run the command in-process and return what it printed."""
    stdout = StringIO()
    call_command(COMMAND, *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def test_html_without_matplotlib_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nothing_may_run: None
) -> None:
    """Without matplotlib, --html names the extra to install and writes nothing."""
    # A None entry makes ``import matplotlib`` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    target = tmp_path / "report.html"

    for option in ("--html", "--html-file"):
        with pytest.raises(CommandError) as caught:
            run_command(option, str(target))
        message = str(caught.value)
        assert message.startswith(f"{option} draws charts with matplotlib")
        assert "'report' extra" in message and INSTALL_HINT in message
        assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_cli_without_matplotlib_prints_one_line(tmp_path: Path) -> None:
    """The real CLI, with matplotlib hidden, exits non-zero with one line."""
    # A package that fails to import stands in for a missing matplotlib.
    fake = tmp_path / "hidden" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(fake.parent)
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")

    result = subprocess.run(
        [sys.executable, "manage.py", COMMAND, "--html", str(tmp_path / "r.html")],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--html" in lines[0] and INSTALL_HINT in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_loading_the_command_imports_no_chart_code(tmp_path: Path) -> None:
    """The chart module is imported only by a run that writes HTML."""
    code = (
        "import sys, django; django.setup()\n"
        "from django.core.management import load_command_class\n"
        f"load_command_class('apps.debugging', {COMMAND!r})\n"
        "print(sorted(m for m in sys.modules if 'chart' in m or 'matplotlib' in m))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(settings.BASE_DIR), str(settings.BASE_DIR / "src")]
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert result.stdout.strip() == "[]"


def test_html_and_a_different_html_file_are_refused(
    tmp_path: Path, nothing_may_run: None
) -> None:
    """Two different targets for one page are an error naming both options."""
    with pytest.raises(CommandError) as caught:
        run_command("--html", str(tmp_path / "a.html"), "--html-file", "b.html")

    message = str(caught.value)
    assert "--html " in message and "--html-file 'b.html'" in message


def test_one_file_for_both_reports_is_refused(
    tmp_path: Path, nothing_may_run: None
) -> None:
    """JSON and HTML aimed at one file would overwrite each other: refused."""
    target = tmp_path / "report.out"
    same = tmp_path / "." / "report.out"

    with pytest.raises(CommandError, match="name the same file"):
        run_command("--output-file", str(target), "--html", str(same))
    assert not target.exists()


def test_html_into_a_missing_folder_is_refused(
    tmp_path: Path, nothing_may_run: None
) -> None:
    """An --html target whose folder is missing names --html, not its alias."""
    with pytest.raises(CommandError, match=r"^--html '.*': folder .* does not exist"):
        run_command("--html", str(tmp_path / "missing" / "report.html"))


@pytest.mark.django_db(transaction=True)
def test_html_file_alias_writes_the_same_page_with_charts(tmp_path: Path) -> None:
    """--html-file, kept for older scripts, writes the page with its charts too."""
    target = tmp_path / "report.html"

    output = run_command(
        "--scenarios", "database_operations", "--time-scale", "0.02",
        "--html-file", str(target),
    )  # fmt: skip

    page = target.read_text(encoding="utf-8")
    assert f"HTML report written to {target}" in output
    assert "<h2>Query time by shape</h2>" in page
    # That scenario runs queries, but neither requests nor memory blocks.
    assert page.count("<svg") == 2
    assert "No data: no requests were monitored." in page
    assert "No data: no memory checkpoints or blocks were recorded." in page


@pytest.mark.django_db(transaction=True)
def test_html_of_a_load_run_has_the_load_table(tmp_path: Path) -> None:
    """10 requests over 5 endpoints: 2 each on both sides, 10 in all, in the page."""
    target = tmp_path / "report.html"

    run_command(
        "--requests", "10", "--clients", "2", "--time-scale", "0.01",
        "--html", str(target),
    )  # fmt: skip

    rows = html_tables(target.read_text(encoding="utf-8"))["Load test"]
    assert rows[0][:3] == ["Endpoint", "Side", "Count"]
    counts = {(row[0], row[1]): row[2] for row in rows[1:] if row[1] == "client"}
    servers = [row[2] for row in rows[1:] if row[1] == "server"]
    assert counts == {
        ("GET /api/products/", "client"): "2",
        ("POST /api/orders/", "client"): "2",
        ("GET /api/users/profile/", "client"): "2",
        ("PUT /api/inventory/update/", "client"): "2",
        ("GET /api/analytics/dashboard/", "client"): "2",
        ("all", "client"): "10",
    }
    assert servers == ["2", "2", "2", "2", "2", "10"]


def _chart_sizes(page: Any) -> list[dict[str, float]]:
    boxes = []
    for index in range(page.locator("figure.chart > svg").count()):
        box = page.locator("figure.chart > svg").nth(index).bounding_box()
        assert box is not None
        boxes.append(box)
    return boxes


@pytest.mark.django_db(transaction=True)
def test_written_page_shows_its_charts_in_chromium(tmp_path: Path) -> None:
    """Opened from disk under its own CSP, the page draws 4 charts, loads nothing."""
    sync_playwright = sync_playwright_or_skip()
    target = tmp_path / "report.html"
    run_command("--scenarios", SCENARIOS, "--time-scale", "0.02", "--html", str(target))
    url = target.as_uri()

    requested: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.on("console", lambda m: console.append(m.text))
            page.goto(url)
            page.wait_for_load_state("load")

            headings = page.locator("h2").all_inner_texts()
            assert [h for h in headings if h in CHART_TITLES] == list(CHART_TITLES)
            boxes = _chart_sizes(page)
            assert len(boxes) == 4
            # Each chart spans most of the page's width and has real height.
            for box in boxes:
                assert box["width"] > 600 and box["height"] > 150, box
            timeline = page.locator("figure.chart > svg").nth(0).text_content() or ""
            for name in SCENARIOS.split(","):
                assert name in timeline
            latency = page.locator("figure.chart > svg").nth(1).text_content() or ""
            assert "GET /api/products/" in latency
            queries = page.locator("figure.chart > svg").nth(3).text_content() or ""
            assert "in N+1 groups" in queries
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    assert requested == [url]
    # A policy that blocked part of a chart would say so on the console.
    assert not [m for m in console if "Content Security Policy" in m]
    width, height = png_size(SCREENSHOT.read_bytes())
    assert width == 1280 and height > 2000
    shutil.copyfile(SCREENSHOT, tmp_path / SCREENSHOT.name)


@pytest.mark.django_db
def test_hostile_page_runs_no_script_in_chromium(
    tmp_path: Path, fresh_monitor: Any
) -> None:
    """With the CSP bypassed, planted names in charts and tables still run nothing."""
    sync_playwright = sync_playwright_or_skip()
    hostile.plant(fresh_monitor)
    report = fresh_monitor.generate_report(
        title="hostile", scenarios=[hostile.hostile_scenario()]
    )
    target = report.write_html(tmp_path / "hostile.html", charts=True)

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: escaping alone has to keep every payload inert.
            page = browser.new_context(bypass_csp=True).new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(target.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.locator("script, img, iframe").count() == 0
            charts = page.locator("figure.chart > svg")
            assert page.locator("svg").count() == charts.count() == 3
            timeline = charts.nth(0).text_content() or ""
            assert hostile.SCENARIO in timeline
        finally:
            browser.close()
    assert dialogs == []
