"""Tests for perfprobe.access: bearer tokens, staff, DEBUG and hidden pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.test import Client, RequestFactory, override_settings
from django.views.defaults import page_not_found
from pytest_django import Settings

from demo_site import urls as demo_urls
from perfprobe.access import (
    UNMONITORED_ATTR,
    bearer_token,
    has_token,
    is_staff_or_debug,
    require_access,
    unmonitored,
)
from perfprobe.prometheus import runtime

from .refusals import fingerprint, unknown_of

TOKEN = "s3cret-token-0123456789"


def _request(authorization: str | None = None, **extra: object) -> HttpRequest:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return RequestFactory().get(
        "/perfprobe/", REMOTE_ADDR="10.1.2.3", **headers, **extra
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"BEARER {TOKEN}  ", TOKEN),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        (f"Basic {TOKEN}", None),
        (f"Token {TOKEN}", None),
        (TOKEN, None),
        (f"Bearer\t{TOKEN}", None),
        ("", None),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(
    header: str, expected: str | None
) -> None:
    """Take the token of a Bearer header (scheme in any case); anything else is none."""
    assert bearer_token(_request(header)) == expected


def test_bearer_token_without_a_header_is_none() -> None:
    """A request with no Authorization header has no token."""
    assert bearer_token(_request()) is None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer {TOKEN.upper()}",
        f"Basic {TOKEN}",
        "Bearer s3cret-token-012345678é",
    ],
)
def test_has_token_refuses_anything_but_the_exact_token(header: str | None) -> None:
    """Missing, truncated, extended, doubled, recased or foreign tokens do not match."""
    assert has_token(_request(header), TOKEN) is False


def test_has_token_accepts_the_exact_token() -> None:
    """The configured token as a Bearer header matches."""
    assert has_token(_request(f"Bearer {TOKEN}"), TOKEN) is True


@pytest.mark.parametrize("expected", [None, ""])
def test_no_configured_token_matches_nothing(expected: str | None) -> None:
    """Without a configured token no header grants access, not even an empty one."""
    assert has_token(_request("Bearer "), expected) is False
    assert has_token(_request("Bearer None"), expected) is False


@pytest.mark.parametrize(
    ("is_staff", "is_active", "allowed"),
    [
        (True, True, True),
        (False, True, False),
        (True, False, False),
        (False, False, False),
    ],
)
def test_only_active_staff_pass(is_staff: bool, is_active: bool, allowed: bool) -> None:
    """A user passes only when both active and staff."""
    request = _request()
    request.user = User(username="u", is_staff=is_staff, is_active=is_active)
    assert is_staff_or_debug(request) is allowed


def test_anonymous_and_userless_requests_do_not_pass() -> None:
    """An anonymous user, no user at all, or a user without the flags is refused."""
    anonymous = _request()
    anonymous.user = AnonymousUser()
    flagless = _request()
    flagless.user = SimpleNamespace()  # type: ignore[assignment]
    for request in (anonymous, _request(), flagless):
        assert is_staff_or_debug(request) is False


@pytest.mark.parametrize(
    ("debug", "internal_ips", "allowed"),
    [
        (True, ["10.1.2.3"], True),
        (True, ["127.0.0.1"], False),
        (False, ["10.1.2.3"], False),
    ],
)
def test_debug_needs_an_internal_address(
    debug: bool, internal_ips: list[str], allowed: bool
) -> None:
    """Without a user, only DEBUG together with an INTERNAL_IPS address passes."""
    with override_settings(DEBUG=debug, INTERNAL_IPS=internal_ips):
        assert is_staff_or_debug(_request()) is allowed


def test_require_access_raises_the_same_404_for_every_refusal() -> None:
    """Wrong token, no token and a non-staff user all raise one identical Http404."""
    non_staff = _request(f"Bearer {TOKEN}x")
    non_staff.user = User(username="u", is_staff=False, is_active=True)
    messages = []
    for request in (_request(), _request("Bearer wrong-token-000000000"), non_staff):
        with pytest.raises(Http404) as caught:
            require_access(request, TOKEN)
        messages.append(str(caught.value))
    assert len(set(messages)) == 1


def test_require_access_lets_token_or_staff_through() -> None:
    """The right token, or an active staff user, returns without raising."""
    staff = _request()
    staff.user = User(username="s", is_staff=True, is_active=True)
    require_access(_request(f"Bearer {TOKEN}"), TOKEN)
    require_access(staff, TOKEN)
    require_access(staff, None)


def test_unmonitored_marks_the_view_and_returns_it() -> None:
    """The marker sets its attribute and hands back the same function."""

    def view(request: HttpRequest) -> None: ...

    assert unmonitored(view) is view
    assert getattr(view, UNMONITORED_ATTR) is True


# -- refusals under Django's default middleware stack ---------------------------

REPORT_TOKEN = "report-token-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"
PAGES = ["/perfprobe/", "/perfprobe/report.json", "/metrics"]
METHODS = ["get", "head", "post", "put", "delete", "options", "patch"]
# startproject's middleware, with perfprobe's first.
DEFAULT_STACK = [
    "perfprobe.middleware.PerformanceMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


@pytest.fixture
def default_stack(settings: Settings) -> Iterator[None]:
    """Serve the demo with startproject's middleware and both tokens configured."""
    settings.INSTALLED_APPS = [
        *settings.INSTALLED_APPS,
        "django.contrib.sessions",
        "django.contrib.messages",
    ]
    settings.MIDDLEWARE = DEFAULT_STACK
    # Signed-cookie sessions need no table in the test database.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    settings.PERFPROBE = {
        "PROMETHEUS": True,
        "REPORT_TOKEN": REPORT_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    yield
    runtime.uninstall()


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("page", PAGES)
def test_refusal_vary_under_the_default_stack_matches_an_unknown_url(
    client: Client, default_stack: None, page: str, method: str
) -> None:
    """A stranger's refusal has the headers and body of an unknown URL, Vary too."""
    unknown = getattr(client, method)(unknown_of(page))
    response = getattr(client, method)(page)
    assert response.status_code == 404
    assert fingerprint(response) == fingerprint(unknown)


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_refusal_vary_of_a_logged_in_non_staff_user_matches_an_unknown_url(
    client: Client, default_stack: None, page: str
) -> None:
    """A logged-in user who is not staff gets the unknown URL's 404, no Vary added."""
    client.force_login(User.objects.create_user("shopper", password="x"))
    unknown = client.get(unknown_of(page))
    response = client.get(page)
    assert response.status_code == 404
    assert fingerprint(response) == fingerprint(unknown)


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_refusal_vary_of_a_bogus_session_cookie_matches_an_unknown_url(
    client: Client, default_stack: None, page: str
) -> None:
    """A forged session cookie is not replaced or dropped on a refusal alone."""
    client.cookies["sessionid"] = "forged-session-value"
    unknown = client.get(unknown_of(page))
    response = client.get(page)
    assert response.status_code == 404
    assert fingerprint(response) == fingerprint(unknown)


# Near misses of the pages too: a redirect that adds a slash, or a 405,
# would tell a stranger that something is there.
PROBED_PATHS = [
    *PAGES,
    "/perfprobe",
    "/perfprobe/report.json/",
    "/perfprobe/report",
    "/metrics/",
    "/perfprobe/?format=json",
]
REFUSED_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"HTTP_AUTHORIZATION": "Bearer wrong-token-0123456789"},
    {"HTTP_AUTHORIZATION": f"Bearer {REPORT_TOKEN[:-1]}"},
    {"HTTP_AUTHORIZATION": f"Basic {REPORT_TOKEN}"},
    {"HTTP_AUTHORIZATION": "Bearer "},
]


def exact(response: HttpResponseBase) -> tuple[object, ...]:
    """Return every byte a client sees of ``response`` but its Date header."""
    headers = sorted(
        (name.lower(), value)
        for name, value in response.headers.items()
        if name.lower() != "date"
    )
    return (response.status_code, headers, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("stack", ["demo", "default"])
@pytest.mark.parametrize("method", ["get", "head", "post", "options"])
def test_refusal_byte_for_byte_equals_a_site_without_perfprobe(
    client: Client, settings: Settings, stack: str, method: str
) -> None:
    """Refused, every page and near miss answers as if perfprobe were not installed.

    Status, every header but Date, and the body are compared on the same
    path, under the demo's middleware and under startproject's.
    """
    settings.PERFPROBE = {
        "PROMETHEUS": True,
        "REPORT_TOKEN": REPORT_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    if stack == "default":
        settings.INSTALLED_APPS = [
            *settings.INSTALLED_APPS,
            "django.contrib.sessions",
            "django.contrib.messages",
        ]
        settings.MIDDLEWARE = DEFAULT_STACK
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    runtime.install()
    try:
        for path in PROBED_PATHS:
            for credentials in REFUSED_CREDENTIALS:
                settings.ROOT_URLCONF = "tests.perfprobe.no_perfprobe_urls"
                absent = getattr(client, method)(path, **credentials)
                settings.ROOT_URLCONF = "demo_site.urls"
                refused = getattr(client, method)(path, **credentials)
                assert exact(refused) == exact(absent), (path, credentials)
    finally:
        runtime.uninstall()


def user_shown_in_404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer 404 naming the user, as a site's own not-found page may."""
    return HttpResponse(f"not found, {request.user}", status=404)


@pytest.mark.django_db
def test_refusal_vary_when_the_404_handler_reads_the_user(
    client: Client, default_stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler404 that reads the user marks the refusal like an unknown URL."""
    monkeypatch.setattr(demo_urls, "handler404", user_shown_in_404, raising=False)
    unknown = client.get("/perfprobX/")
    response = client.get("/perfprobe/")
    assert response.content == unknown.content == b"not found, AnonymousUser"
    assert response["Vary"] == unknown["Vary"] == "Cookie"


@pytest.mark.django_db
def test_refusal_vary_leaves_staff_access_working(
    client: Client, default_stack: None
) -> None:
    """Under the default stack an active staff login still opens every page."""
    client.force_login(User.objects.create_user("boss", password="x", is_staff=True))
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "private" in response["Cache-Control"]
        assert {"Cookie", "Authorization"} <= {
            v.strip() for v in response["Vary"].split(",")
        }


NOT_FOUND_TEMPLATE = "Not found: {{ exception }} at {{ request_path }}"


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_refusal_404_template_context_matches_an_unknown_url(
    client: Client,
    default_stack: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    page: str,
) -> None:
    """Django's page_not_found gives a refusal's 404.html the unknown URL's context."""
    monkeypatch.setattr(demo_urls, "handler404", page_not_found, raising=False)
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {"404.html": NOT_FOUND_TEMPLATE},
                    )
                ]
            },
        }
    ]
    unknown = client.get(unknown_of(page))
    response = client.get(page)
    # page_not_found shows an Http404's str message, but the class name for
    # the resolver's Resolver404 with its dict argument.
    assert unknown.content == f"Not found: Resolver404 at {unknown_of(page)}".encode()
    assert response.content == f"Not found: Resolver404 at {page}".encode()
    assert fingerprint(response) == fingerprint(unknown)


# -- the session after a refused user load --------------------------------------


def session_writer(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """Write to the session before the view, as many sites' middleware does."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        request.session["last_path"] = request.path
        return get_response(request)

    return middleware


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/perfprobe/", "/metrics"])
def test_session_restore_keeps_the_flush_of_a_stale_session_hash(
    client: Client, default_stack: None, settings: Settings, page: str
) -> None:
    """A user whose password changed elsewhere is logged out and gets a 404, not 400."""
    stack = list(DEFAULT_STACK)
    stack.insert(
        stack.index("django.middleware.csrf.CsrfViewMiddleware"),
        f"{__name__}.session_writer",
    )
    settings.MIDDLEWARE = stack
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    user = User.objects.create_user("shopper", password="old-password")
    client.force_login(user)
    assert client.get(unknown_of(page)).status_code == 404
    # The password changes on another device: this session is now stale.
    user.set_password("new-password")
    user.save()
    assert client.get(unknown_of(page)).status_code == 404
    response = client.get(page)
    assert response.status_code == 404
    # Django's flush() logged the user out: the session cookie is cleared.
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == ""


@pytest.fixture
def cache_sessions(default_stack: None, settings: Settings) -> None:
    """Keep sessions in a local memory cache, whose load empties an unknown key."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_session_restore_puts_back_an_unknown_cached_session_key(
    client: Client, cache_sessions: None, page: str
) -> None:
    """A cookie naming no cached session is neither dropped nor marked on a refusal."""
    client.cookies["sessionid"] = "no-such-session-0123456789abcdef"
    unknown = client.get(unknown_of(page))
    response = client.get(page)
    assert response.status_code == 404
    assert "Set-Cookie" not in str(response.cookies)
    assert fingerprint(response) == fingerprint(unknown)


@pytest.mark.django_db
def test_session_restore_keeps_a_key_rotated_for_a_fallback_secret(
    client: Client, cache_sessions: None, settings: Settings
) -> None:
    """A login hashed with a fallback secret keeps the new key Django gives it."""
    old_secret = settings.SECRET_KEY
    client.force_login(User.objects.create_user("shopper", password="x"))
    old_key = client.cookies["sessionid"].value
    settings.SECRET_KEY = "a-new-secret-key-" + "0" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    response = client.get("/perfprobe/")
    assert response.status_code == 404
    new_key = client.cookies["sessionid"].value
    assert new_key not in ("", old_key)
    # cycle_key() deleted the old record: only the new key still logs in.
    engine = import_module(settings.SESSION_ENGINE)
    assert not engine.SessionStore().exists(old_key)
    assert engine.SessionStore(new_key).get("_auth_user_id") is not None


@pytest.fixture
def fresh_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which loggers already explained a refusal (once per process)."""
    from perfprobe import access

    monkeypatch.setattr(access, "_HINTED", set())


@pytest.mark.django_db
def test_a_debug_refusal_says_once_in_the_log_to_set_internal_ips(
    fresh_hints: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Under DEBUG, Django's 404 page says only that the pattern matched.

    The server's log says why, once: the address is not in INTERNAL_IPS.
    The response is the same 404 as without the hint.
    """
    client = Client(REMOTE_ADDR="10.9.8.7")
    with override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"]):
        with caplog.at_level("WARNING", logger="perfprobe"):
            first = client.get("/perfprobe/")
            second = client.get("/perfprobe/")
    assert (first.status_code, second.status_code) == (404, 404)
    hints = [r for r in caplog.records if "INTERNAL_IPS" in r.getMessage()]
    assert len(hints) == 1
    message = hints[0].getMessage()
    assert message.startswith(
        "perfprobe answered GET /perfprobe/ from '10.9.8.7' with a 404"
    )
    assert "(now ['127.0.0.1'])" in message
    assert "add '10.9.8.7' to INTERNAL_IPS" in message


@pytest.mark.django_db
def test_a_refusal_without_debug_logs_nothing(
    fresh_hints: None, caplog: pytest.LogCaptureFixture
) -> None:
    """In production a refusal stays silent: scanners would fill the log."""
    with override_settings(DEBUG=False, INTERNAL_IPS=[]):
        with caplog.at_level("DEBUG", logger="perfprobe"):
            assert Client(REMOTE_ADDR="10.9.8.7").get("/perfprobe/").status_code == 404
    assert not [r for r in caplog.records if "INTERNAL_IPS" in r.getMessage()]
