"""Tests for perfprobe.access: bearer tokens, staff, DEBUG and refusals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest
from django.test import RequestFactory, override_settings

from perfprobe.access import (
    UNMONITORED_ATTR,
    bearer_token,
    has_token,
    is_staff_or_debug,
    require_access,
    unmonitored,
)

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
