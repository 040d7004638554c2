"""Find the system's Chromium and playwright for browser tests, or skip.

Chromium comes from the system (Debian's ``chromium`` package) and is driven
by the ``playwright`` package; playwright's own browser downloads are never
used. Without either a test skips, unless ``PERFPROBE_REQUIRE_BROWSER=1``
(as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sync_playwright_or_skip() -> Any:
    """Return ``sync_playwright``; without a browser skip, or fail in CI."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        reason = "the playwright package is not installed"
    if reason is None and not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("PERFPROBE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PERFPROBE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return start


def png_size(data: bytes) -> tuple[int, int]:
    """Return the width and height of the PNG image ``data``."""
    # The IHDR chunk comes first: width and height as big-endian integers.
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
