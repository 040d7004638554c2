"""Tests for perfprobe.prometheus.views: who may scrape ``/metrics``, and what."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.test import Client, RequestFactory
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import Settings

from perfprobe.access import UNMONITORED_ATTR
from perfprobe.prometheus import metrics_view, runtime

from ..refusals import fingerprint

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
METHODS = ["get", "head", "post", "put", "delete", "options", "patch"]


@pytest.fixture(autouse=True)
def prometheus_on(settings: Settings) -> Iterator[None]:
    """Turn PROMETHEUS on with a token, serve the test views, uninstall after."""
    settings.PERFPROBE = {"PROMETHEUS": True, "METRICS_TOKEN": TOKEN}
    settings.ROOT_URLCONF = "tests.perfprobe.prometheus.urls"
    yield
    runtime.uninstall()


def request_count(body: str, route: str) -> float:
    """Return the request histogram's count for GET ``route`` with status 200."""
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if (
                sample.name == "perfprobe_http_request_duration_seconds_count"
                and sample.labels == {"method": "GET", "route": route, "status": "200"}
            ):
                return sample.value
    return 0.0


def test_without_a_token_the_page_does_not_exist(client: Client) -> None:
    """No Authorization header, or another scheme, gets a 404."""
    assert client.get("/metrics").status_code == 404
    basic = {"Authorization": f"Basic {TOKEN}"}
    assert client.get("/metrics", headers=basic).status_code == 404


def test_a_wrong_token_gets_a_404(client: Client) -> None:
    """A bearer token that differs from METRICS_TOKEN is refused."""
    wrong = {"Authorization": f"Bearer {TOKEN[:-1]}X"}
    assert client.get("/metrics", headers=wrong).status_code == 404


def test_the_page_is_missing_while_the_setting_is_off(
    client: Client, settings: Settings
) -> None:
    """With PROMETHEUS off even the right token gets a 404."""
    settings.PERFPROBE = {"PROMETHEUS": False, "METRICS_TOKEN": TOKEN}
    assert client.get("/metrics", headers=AUTH).status_code == 404


@pytest.mark.usefixtures("fresh_off_hint")
def test_a_debug_404_while_off_says_once_in_the_log_to_turn_it_on(
    client: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Mounted but off, /metrics is a 404; under DEBUG the log says why, once.

    In a user trial, /metrics mounted with PROMETHEUS left at its default
    answered a local DEBUG request with a bare 404 and logged nothing.
    """
    settings.PERFPROBE = {}
    settings.DEBUG = True
    settings.INTERNAL_IPS = ["127.0.0.1"]
    with caplog.at_level("WARNING", logger="perfprobe.prometheus"):
        statuses = [client.get("/metrics").status_code for _ in range(2)]
    settings.DEBUG = False
    with caplog.at_level("WARNING", logger="perfprobe.prometheus"):
        statuses.append(client.get("/metrics").status_code)

    assert statuses == [404, 404, 404]
    hints = [r for r in caplog.records if r.name == "perfprobe.prometheus"]
    assert [r.getMessage() for r in hints] == [
        "perfprobe answered GET /metrics with a 404: PERFPROBE['PROMETHEUS'] is "
        "off (its default), so /metrics answers a 404 to everyone. Set it to "
        "True to serve the metrics (with pip install "
        "'django-perfprobe[prometheus]'). (Logged once, only while DEBUG is on.)"
    ]


@pytest.mark.usefixtures("fresh_off_hint")
def test_without_debug_a_404_while_off_logs_nothing(
    client: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """In production the page that is off stays silent, as refusals do."""
    settings.PERFPROBE = {}
    settings.DEBUG = False
    with caplog.at_level("DEBUG", logger="perfprobe.prometheus"):
        assert client.get("/metrics").status_code == 404
    assert not [r for r in caplog.records if r.name == "perfprobe.prometheus"]


@pytest.fixture
def fresh_off_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which pages already said they were off (once per process)."""
    from perfprobe import access

    monkeypatch.setattr(access, "_HINTED", set())


def test_the_token_gets_the_text_format(client: Client) -> None:
    """The right token gets 200, the text format's content type, uncached."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    assert "# TYPE perfprobe_http_request_duration_seconds histogram" in body
    assert "# TYPE perfprobe_db_queries_total counter" in body
    assert "# TYPE perfprobe_process_resident_memory_bytes gauge" in body


def test_openmetrics_is_served_to_who_asks(client: Client) -> None:
    """A scraper that accepts OpenMetrics gets it, ending with # EOF."""
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4"
    response = client.get(
        "/metrics",
        headers={**AUTH, "Accept": accept},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


@pytest.mark.parametrize("debug", [True, False])
def test_local_debug_requests_may_scrape(
    client: Client, settings: Settings, debug: bool
) -> None:
    """Without a token, DEBUG from an INTERNAL_IPS address is let in, else not."""
    settings.DEBUG = debug
    settings.INTERNAL_IPS = ["127.0.0.1"]
    assert client.get("/metrics").status_code == (200 if debug else 404)


def test_staff_may_scrape_without_a_token(rf: RequestFactory) -> None:
    """An active staff user needs no token."""
    request = rf.get("/metrics")
    request.user = SimpleNamespace(is_active=True, is_staff=True)
    assert metrics_view(request).status_code == 200


def test_only_get_is_allowed(client: Client) -> None:
    """A POST with the token is refused with 405."""
    assert client.post("/metrics", headers=AUTH).status_code == 405


def test_a_scrape_shows_the_requests_since_the_last(client: Client) -> None:
    """Three requests between two scrapes raise their route's count by three."""
    runtime.install()
    before = client.get("/metrics", headers=AUTH).content.decode()
    for pk in (1, 2, 3):
        client.get(f"/items/{pk}/")
    after = client.get("/metrics", headers=AUTH).content.decode()
    route = "/items/<int:pk>/"
    assert request_count(after, route) - request_count(before, route) == 3


def test_the_view_is_marked_unmonitored() -> None:
    """The view carries the marker that keeps scrapes out of the traffic."""
    assert getattr(metrics_view, UNMONITORED_ATTR) is True


def test_a_render_failure_is_a_logged_500(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When rendering raises, the scraper gets a 500 and the log the traceback."""

    def broken(accept: str | None) -> tuple[bytes, str]:
        raise OSError("multiprocess directory vanished")

    monkeypatch.setattr(runtime, "render", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 500
    assert b"vanished" not in response.content
    assert any(
        "vanished" in (r.exc_text or "")
        for r in caplog.records
        if r.name == "perfprobe.prometheus"
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("prometheus", [True, False])
def test_method_before_access_strangers_get_the_unknown_urls_404(
    client: Client, settings: Settings, method: str, prometheus: bool
) -> None:
    """Every method from a stranger, setting on or off, answers like an unknown URL."""
    settings.PERFPROBE = {"PROMETHEUS": prometheus, "METRICS_TOKEN": TOKEN}
    unknown = getattr(client, method)("/metricX")
    response = getattr(client, method)("/metrics")
    assert response.status_code == 404
    assert fingerprint(response) == fingerprint(unknown)


@pytest.mark.parametrize("method", METHODS)
def test_method_before_access_the_setting_off_is_a_404_even_with_the_token(
    client: Client, settings: Settings, method: str
) -> None:
    """While PROMETHEUS is off the right token gets a 404 for every method."""
    settings.PERFPROBE = {"PROMETHEUS": False, "METRICS_TOKEN": TOKEN}
    assert getattr(client, method)("/metrics", headers=AUTH).status_code == 404


def test_method_before_access_csrf_does_not_turn_a_post_into_a_403(
    settings: Settings,
) -> None:
    """Under enforced CSRF checks a stranger's POST is a 404, the token's a 405."""
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.middleware.csrf.CsrfViewMiddleware",
    ]
    client = Client(enforce_csrf_checks=True)
    assert client.post("/metricX").status_code == 404
    assert client.post("/metrics").status_code == 404
    assert client.post("/metrics", headers=AUTH).status_code == 405


def test_method_before_access_allowed_head_is_served_uncached(client: Client) -> None:
    """HEAD with the token is a 200 of the text format, with no body, never cached."""
    response = client.head("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.content == b""
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "options", "patch"])
def test_method_before_access_allowed_writes_get_a_private_405(
    client: Client, method: str
) -> None:
    """Other methods with the token get 405 naming GET and HEAD, never cached."""
    response = getattr(client, method)("/metrics", headers=AUTH)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "no-store" in response["Cache-Control"]
    assert {"Cookie", "Authorization"} <= {
        v.strip() for v in response["Vary"].split(",")
    }


def test_failures_logged_once_a_missing_multiprocess_dir(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Four scrapes after the multi-process directory vanished: four 500s, one ERROR."""
    runtime.install()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/perfprobe-metrics")
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        statuses = [client.get("/metrics", headers=AUTH).status_code for _ in range(4)]
    assert statuses == [500] * 4
    errors = [r for r in caplog.records if r.name == "perfprobe.prometheus"]
    assert len(errors) == 1


BAD_SETTINGS = [
    {"SAMPLE_RATE": float("nan")},
    {"METRICS_TOKEN": "short"},
    {"PROMETHEUS": "true"},
    {"NO_SUCH_KEY": 1},
]


@pytest.mark.parametrize("bad", BAD_SETTINGS)
def test_bad_runtime_setting_keeps_metrics_hidden_from_strangers(
    settings: Settings, bad: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """Under an invalid PERFPROBE a scrape gets the unknown URL's 404, logged once."""
    client = Client(raise_request_exception=False)
    settings.PERFPROBE = bad
    unknown = client.get("/metricX")
    with caplog.at_level(logging.ERROR, logger="perfprobe.prometheus"):
        responses = [client.get("/metrics", headers=AUTH) for _ in range(3)]
    for response in responses:
        assert fingerprint(response) == fingerprint(unknown)
    errors = [r for r in caplog.records if r.name == "perfprobe.prometheus"]
    assert len(errors) == 1
