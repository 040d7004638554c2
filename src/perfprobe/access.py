"""Decide who may read perfprobe's views: staff, a bearer token, or DEBUG."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import Http404, HttpRequest


def bearer_token(request: HttpRequest) -> str | None:
    """Return the token of an ``Authorization: Bearer …`` header, or ``None``."""
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def has_token(request: HttpRequest, expected: str | None) -> bool:
    """Return whether ``request`` carries ``expected`` as its bearer token.

    Compared in constant time, so response times tell nothing of the token.
    """
    if not expected:
        return False
    given = bearer_token(request)
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def is_staff_or_debug(request: HttpRequest) -> bool:
    """Return whether ``request`` comes from active staff, or is a local debug one.

    Anyone else passes only while ``DEBUG`` is on and the request comes from
    an address in ``INTERNAL_IPS``, as for other debugging tools.
    """
    # getattr: a site without AuthenticationMiddleware has no request.user,
    # and a custom user model need not define both flags.
    user = getattr(request, "user", None)
    if getattr(user, "is_active", False) and getattr(user, "is_staff", False):
        return True
    internal = request.META.get("REMOTE_ADDR") in getattr(settings, "INTERNAL_IPS", ())
    return bool(settings.DEBUG and internal)


def require_access(request: HttpRequest, token: str | None) -> None:
    """Raise ``Http404`` unless ``request`` is staff, local debug, or has ``token``.

    A 404 rather than a 403 does not tell strangers the page exists, and
    every refusal is the same ``Http404``, rendered by the site's own 404
    handler like any unknown URL: nothing says which check failed.
    """
    if not (has_token(request, token) or is_staff_or_debug(request)):
        raise Http404("No page here.")


ViewT = TypeVar("ViewT", bound=Callable[..., Any])

#: The attribute ``unmonitored`` sets on a view function.
UNMONITORED_ATTR = "perfprobe_unmonitored"


def unmonitored(view: ViewT) -> ViewT:
    """Mark ``view`` so the request middleware keeps its requests out of the data.

    perfprobe's own views use it: a scrape of ``/metrics`` or a look at the
    report must not show up as traffic of the application.
    """
    setattr(view, UNMONITORED_ATTR, True)
    return view
