"""Tests for perfprobe.views: the live report page and its JSON."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import Http404
from django.test import Client, RequestFactory, override_settings

from perfprobe import PerformanceMonitor
from perfprobe.report.html import _CSS
from perfprobe.report.schema import validate_report
from perfprobe.views import can_view_report, report_json, report_page

from . import hostile
from .live_urls import HOSTILE_PATH, HOSTILE_ROUTE

TOKEN = "live-report-token-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
URLS = ("/perfprobe/", "/perfprobe/report.json")
# What the demo's handler404 answers for any unknown path, written out by hand.
DEMO_404 = {
    "/perfprobe/": b'{"error": "no such endpoint: /perfprobe/"}',
    "/perfprobe/report.json": b'{"error": "no such endpoint: /perfprobe/report.json"}',
}
# Sessions in a signed cookie need no table; CSRF is on, as on most sites.
WITH_AUTH = {
    "MIDDLEWARE": [
        *settings.MIDDLEWARE,
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
}
NEVER_CACHED = ("max-age=0", "no-cache", "no-store", "must-revalidate", "private")


@pytest.fixture
def token(fresh_monitor: PerformanceMonitor) -> Iterator[str]:
    """Configure ``TOKEN`` as REPORT_TOKEN for the test."""
    with override_settings(PERFPROBE={"REPORT_TOKEN": TOKEN}):
        fresh_monitor.reset()
        yield TOKEN


def _assert_never_cached(response: Any) -> None:
    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert directives.issuperset(NEVER_CACHED)
    assert "Expires" in response
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Cookie", "Authorization"} <= vary
    assert response["X-Content-Type-Options"] == "nosniff"


# -- refusals ---------------------------------------------------------------

REFUSED_HEADERS = [
    {},
    {"HTTP_AUTHORIZATION": "Bearer wrong-token-0123456789"},
    {"HTTP_AUTHORIZATION": f"Bearer {TOKEN[:-1]}"},
    {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}0"},
    {"HTTP_AUTHORIZATION": "Bearer"},
    {"HTTP_AUTHORIZATION": "Bearer "},
    {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
    {"HTTP_AUTHORIZATION": TOKEN},
    {"HTTP_AUTHORIZATION": f"Bearer\t{TOKEN}"},
    {"HTTP_AUTHORIZATION": f"Bearer {TOKEN},Bearer {TOKEN}"},
]


@pytest.mark.parametrize("headers", REFUSED_HEADERS)
@pytest.mark.parametrize("method", ["get", "head", "post", "put", "delete", "options"])
def test_refusals_are_the_sites_plain_404(
    client: Client, token: str, headers: dict[str, str], method: str
) -> None:
    """No, wrong or malformed tokens get, for any method, the 404 of an unknown URL."""
    for url in URLS:
        response = getattr(client, method)(url, **headers)
        assert response.status_code == 404
        if method != "head":
            assert response.content == DEMO_404[url]
        assert "Allow" not in response


def test_no_configured_token_refuses_every_bearer(client: Client) -> None:
    """With REPORT_TOKEN unset, no Authorization header opens the report."""
    for header in ("Bearer ", "Bearer None", f"Bearer {TOKEN}"):
        assert client.get("/perfprobe/", HTTP_AUTHORIZATION=header).status_code == 404


@override_settings(ROOT_URLCONF="tests.perfprobe.live_urls")
def test_refusal_matches_djangos_404_for_a_missing_page(
    client: Client, token: str
) -> None:
    """Under Django's default handler the refusal is byte for byte an unknown URL's."""
    missing = client.get("/nothing-here/")
    refused = client.get("/perfprobe/", HTTP_AUTHORIZATION="Bearer wrong")
    assert missing.status_code == refused.status_code == 404
    assert refused.content == missing.content
    assert refused["Content-Type"] == missing["Content-Type"]


@override_settings(DEBUG=True, INTERNAL_IPS=["10.9.9.9"])
def test_debug_alone_is_not_enough(client: Client) -> None:
    """DEBUG on but a caller outside INTERNAL_IPS still gets a 404."""
    assert client.get("/perfprobe/").status_code == 404


# -- allowed callers --------------------------------------------------------


def test_the_token_opens_both_views(
    client: Client, token: str, fresh_monitor: PerformanceMonitor
) -> None:
    """With the bearer token the page and the JSON answer 200, never cached."""
    with fresh_monitor.measure_execution_time("checkout"):
        pass
    page = client.get("/perfprobe/", **AUTH)
    assert page.status_code == 200
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert "<td>checkout</td>" in page.content.decode()
    data = client.get("/perfprobe/report.json", **AUTH)
    assert data.status_code == 200
    assert data["Content-Type"] == "application/json"
    assert [op["name"] for op in data.json()["operations"]] == ["checkout"]
    # The server is this process: the title names its id.
    assert data.json()["title"] == f"perfprobe live report, process {os.getpid()}"
    for response in (page, data):
        _assert_never_cached(response)


def test_head_answers_like_get_without_a_body(client: Client, token: str) -> None:
    """HEAD with the token is a 200 of the same type, with no body."""
    for url in URLS:
        get, head = client.get(url, **AUTH), client.head(url, **AUTH)
        assert head.status_code == 200
        assert head["Content-Type"] == get["Content-Type"]
        assert head.content == b""
        _assert_never_cached(head)


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_an_allowed_caller_may_only_read(
    client: Client, token: str, method: str
) -> None:
    """Other methods from an allowed caller get 405 naming GET and HEAD."""
    for url in URLS:
        response = getattr(client, method)(url, **AUTH)
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"
        _assert_never_cached(response)


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"])
def test_debug_from_an_internal_address_may_view(client: Client) -> None:
    """From an internal IP with DEBUG on, both views answer 200 without a token."""
    for url in URLS:
        assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_json_counts_the_requests_made_and_fits_the_schema(
    client: Client, token: str
) -> None:
    """Three product-list requests show as three; reading the report adds none."""
    for _ in range(3):
        assert client.get("/api/products/").status_code == 200
    client.get("/perfprobe/", **AUTH)
    client.get("/perfprobe/", HTTP_AUTHORIZATION="Bearer wrong")
    data = client.get("/perfprobe/report.json", **AUTH).json()
    validate_report(data)
    assert data["summary"]["requests"] == 3
    routes = {(e["method"], e["route"]): e["count"] for e in data["endpoints"]}
    assert routes == {("GET", "/api/products/"): 3}


# -- staff ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("is_staff", "is_active", "status"),
    [(True, True, 200), (False, True, 404), (True, False, 404)],
)
def test_demo_settings_staff_user_set_on_the_request(
    is_staff: bool, is_active: bool, status: int
) -> None:
    """Without auth middleware a view given an active staff ``user`` answers 200."""
    for view in (report_page, report_json):
        request = RequestFactory().get("/perfprobe/", REMOTE_ADDR="10.1.2.3")
        request.user = User(username="u", is_staff=is_staff, is_active=is_active)
        assert can_view_report(request) is (status == 200)
        if status == 404:
            with pytest.raises(Http404):
                view(request)
        else:
            assert view(request).status_code == 200


@pytest.mark.django_db
@override_settings(**WITH_AUTH)
@pytest.mark.parametrize(
    ("is_staff", "is_active", "status"),
    [(True, True, 200), (False, True, 404), (True, False, 404), (None, None, 404)],
)
def test_logged_in_staff_through_auth_middleware(
    client: Client, is_staff: bool | None, is_active: bool | None, status: int
) -> None:
    """With sessions and auth middleware only an active staff login opens the page."""
    if is_staff is not None:
        user = User.objects.create_user(
            "someone", password="x", is_staff=is_staff, is_active=bool(is_active)
        )
        client.force_login(user)
    for url in URLS:
        response = client.get(url)
        assert response.status_code == status
        if status == 404:
            assert response.content == DEMO_404[url]
        else:
            _assert_never_cached(response)


@pytest.mark.django_db
@override_settings(**WITH_AUTH)
def test_post_under_csrf_middleware_still_says_404(client: Client) -> None:
    """CSRF checks do not turn a stranger's POST into a 403; staff POST gets 405."""
    csrf_client = Client(enforce_csrf_checks=True)
    assert csrf_client.post("/perfprobe/").status_code == 404
    staff = User.objects.create_user("boss", password="x", is_staff=True)
    csrf_client.force_login(staff)
    assert csrf_client.post("/perfprobe/").status_code == 405
    assert csrf_client.get("/perfprobe/").status_code == 200


# -- what the page shows ----------------------------------------------------


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.perfprobe.live_urls")
def test_hostile_values_stay_text_on_the_live_page(
    client: Client, fresh_monitor: PerformanceMonitor
) -> None:
    """Markup in routes, names, tags, SQL, call sites, errors, labels is text."""
    conf = {"REPORT_TOKEN": TOKEN, "STORE_SQL_PARAMETERS": True}
    with override_settings(PERFPROBE={**conf, "SLOW_QUERY_SECONDS": 1e-9}):
        fresh_monitor.reset()
        assert client.get(HOSTILE_PATH).status_code == 200
        response = client.get("/perfprobe/", **AUTH)
        data = client.get("/perfprobe/report.json", **AUTH).json()

    audit = hostile.PageAudit(response.content.decode())
    assert audit.unexpected_markup() == []
    assert audit.style == [f"\n{_CSS}\n"]
    assert audit.title == [f"perfprobe live report, process {os.getpid()}"]
    text = audit.visible_text
    for planted in (
        f"GET {HOSTILE_ROUTE}",
        hostile.OPERATION,
        f"{hostile.TAG_KEY}={hostile.TAG_VALUE}",
        hostile.SCOPE,
        hostile.SQL_ALIAS,
        hostile.SQL_LITERAL,
        hostile.CALL_SITE_FILE,
        hostile.ERROR_TYPE,
        hostile.MEMORY_LABEL,
    ):
        assert planted in text, planted
    validate_report(data)
    assert any(e["route"] == HOSTILE_ROUTE for e in data["endpoints"])


def test_a_lone_surrogate_does_not_break_the_page(
    client: Client, token: str, fresh_monitor: PerformanceMonitor
) -> None:
    """A name holding a lone surrogate is shown escaped, not turned into a 500.

    The JSON spells it out as text too: an escaped lone surrogate is refused
    by strict JSON readers.
    """
    with fresh_monitor.measure_execution_time("file-\udcff"):
        pass
    page = client.get("/perfprobe/", **AUTH)
    assert page.status_code == 200
    assert "<td>file-\\udcff</td>" in page.content.decode("utf-8")
    data = client.get("/perfprobe/report.json", **AUTH)
    assert data.status_code == 200
    assert json.loads(data.content)["operations"][0]["name"] == "file-\\udcff"


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"])
def test_a_broken_report_is_a_plain_500_logged_once(
    client: Client,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three reads of a report that cannot be built: three 500s, one ERROR log."""

    def broken(**options: object) -> None:
        raise RuntimeError("report bug")

    monkeypatch.setattr(fresh_monitor, "generate_report", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe.report"):
        statuses = [client.get(path).status_code for path in ("/perfprobe/",) * 2]
        statuses.append(client.get("/perfprobe/report.json").status_code)

    assert statuses == [500, 500, 500]
    (record,) = [r for r in caplog.records if r.name == "perfprobe.report"]
    assert record.getMessage().startswith("perfprobe failed to build the live report")


# -- an invalid PERFPROBE at run time ---------------------------------------

BAD_SETTINGS = [
    {"SAMPLE_RATE": float("nan")},
    {"REPORT_TOKEN": "short"},
    {"NO_SUCH_KEY": 1},
]


@pytest.mark.parametrize("bad", BAD_SETTINGS)
def test_bad_runtime_setting_keeps_the_pages_hidden_from_strangers(
    bad: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """Under an invalid PERFPROBE strangers get the unknown URL's 404, logged once."""
    client = Client(raise_request_exception=False)
    with (
        override_settings(PERFPROBE=bad),
        caplog.at_level(logging.ERROR, logger="perfprobe.report"),
    ):
        for url in URLS * 2:
            response = client.get(url, **AUTH)
            assert response.status_code == 404
            assert response.content == DEMO_404[url]
    errors = [r for r in caplog.records if r.name == "perfprobe.report"]
    assert len(errors) == 1


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"], PERFPROBE={"NO_SUCH_KEY": 1})
def test_bad_runtime_setting_tells_local_debug_where_to_look(client: Client) -> None:
    """An allowed caller under a bad PERFPROBE gets a private 500 naming the log."""
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 500
        assert b"perfprobe.report log" in response.content
        _assert_never_cached(response)
