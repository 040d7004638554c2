"""The demo's loopback server."""

from __future__ import annotations

from django.urls import clear_url_caches, get_resolver
from pytest_django import Settings

from apps.debugging.server import LoopbackServer


def test_server_loads_the_urlconf_before_the_first_request() -> None:
    # A fresh resolver has not imported its patterns yet; the server must
    # do it before serving, or the first request measured pays the imports.
    clear_url_caches()
    assert "url_patterns" not in get_resolver().__dict__
    server = LoopbackServer()
    server.start()
    try:
        assert "url_patterns" in get_resolver().__dict__
    finally:
        server.stop()


def test_server_starts_even_if_the_urlconf_cannot_be_loaded(
    settings: Settings,
) -> None:
    # The broken URLconf is the requests' problem, not the server's start.
    settings.ROOT_URLCONF = "tests.demo.no_such_urlconf"
    clear_url_caches()
    server = LoopbackServer()
    server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
    clear_url_caches()
