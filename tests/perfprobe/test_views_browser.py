"""Test the live report in headless Chromium, served by a loopback server.

See ``browser.py`` for where Chromium comes from and when the test skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings

from apps.debugging.server import LoopbackServer
from perfprobe import PerformanceMonitor

from . import hostile
from .browser import CHROMIUM, CHROMIUM_ARGS, png_size, sync_playwright_or_skip
from .live_urls import HOSTILE_PATH, HOSTILE_ROUTE

TOKEN = "browser-report-token-0123456789"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / "build" / "screenshots" / "live-report.png"
PRODUCT_REQUESTS = 4


@pytest.fixture
def sync_playwright() -> Any:
    """Return ``sync_playwright``; without a browser skip, or fail in CI."""
    return sync_playwright_or_skip()


@pytest.fixture
def live_server_url(
    transactional_db: None, fresh_monitor: PerformanceMonitor
) -> Iterator[str]:
    """Serve the demo project plus a hostile route on loopback, with a token."""
    conf = {
        "REPORT_TOKEN": TOKEN,
        "STORE_SQL_PARAMETERS": True,
        # Every query counts as slow, so the raw SQL reaches a suggestion.
        "SLOW_QUERY_SECONDS": 1e-9,
    }
    with (
        override_settings(ROOT_URLCONF="tests.perfprobe.live_urls", PERFPROBE=conf),
        LoopbackServer() as server,
    ):
        fresh_monitor.reset()
        yield server.base_url


def test_live_report_renders_and_runs_no_planted_script(
    sync_playwright: Any, live_server_url: str, tmp_path: Path
) -> None:
    """Chromium shows the counted traffic and hostile names as text; no script runs."""
    with httpx.Client(base_url=live_server_url, timeout=10) as http:
        assert http.get(HOSTILE_PATH).status_code == 200
        for _ in range(PRODUCT_REQUESTS):
            assert http.get("/api/products/").status_code == 200

    dialogs: list[str] = []
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: the page's policy would stop a planted script on its
            # own; with it off, escaping alone has to keep every one inert.
            context = browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {TOKEN}"},
                bypass_csp=True,
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requested.append(r.url))
            response = page.goto(f"{live_server_url}/perfprobe/")
            assert response is not None and response.status == 200
            page.wait_for_load_state("load")

            # The loopback server runs in this process.
            assert page.title() == f"perfprobe live report, process {os.getpid()}"
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.locator("script, img, iframe").count() == 0
            # The charts are the page's only SVG: the planted <svg onload> is text.
            charts = page.locator("figure.chart > svg").count()
            assert charts >= 1
            assert page.locator("svg").count() == charts
            for heading in ("Recommendations", "Operations", "Endpoints", "Queries"):
                assert page.locator("h2", has_text=heading).is_visible()
            total = PRODUCT_REQUESTS + 1
            assert page.locator("p", has_text=f"{total} requests").is_visible()
            products = page.locator("tr", has_text="GET /api/products/")
            assert products.locator("td").nth(1).inner_text() == str(PRODUCT_REQUESTS)
            body = page.locator("body").inner_text()
            for planted in (
                f"GET {HOSTILE_ROUTE}",
                hostile.OPERATION,
                hostile.SQL_ALIAS,
                hostile.SQL_LITERAL,
                hostile.TAG_VALUE,
                hostile.MEMORY_LABEL,
            ):
                assert planted in body, planted
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            stranger = browser.new_context()
            refused = stranger.new_page().goto(f"{live_server_url}/perfprobe/")
            assert refused is not None and refused.status == 404
            stranger.close()
            context.close()
        finally:
            browser.close()

    assert dialogs == []
    # Nothing on the page made the browser fetch anything (an injected <img>
    # or stylesheet would); a favicon request is the browser's own.
    fetched = [url for url in requested if not url.endswith("/favicon.ico")]
    assert fetched == [f"{live_server_url}/perfprobe/"]
    data = SCREENSHOT.read_bytes()
    width, height = png_size(data)
    assert width == 1280 and 900 <= height <= 20_000
    assert 20_000 < len(data) < 10_000_000
    shutil.copyfile(SCREENSHOT, tmp_path / SCREENSHOT.name)
