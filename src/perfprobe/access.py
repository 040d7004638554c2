"""Decide who may read perfprobe's pages, and answer strangers as unknown URLs."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.http.response import HttpResponse
from django.urls import Resolver404
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.functional import LazyObject, empty
from django.views.decorators.csrf import csrf_exempt

from .conf import PerfprobeSettings, get_settings
from .failures import log_failure

#: The methods an allowed caller may use on perfprobe's pages.
ALLOWED_METHODS = ("GET", "HEAD")

PageView = Callable[[HttpRequest], HttpResponseBase]


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
    an address in ``INTERNAL_IPS``, as for other debugging tools. Reading
    the user of a refused request leaves no trace in the response unless
    Django changed the session while loading it (see ``_is_active_staff``).
    """
    internal = request.META.get("REMOTE_ADDR") in getattr(settings, "INTERNAL_IPS", ())
    if settings.DEBUG and internal:
        return True
    return _is_active_staff(request)


# The loggers that have said once why a page was refused under DEBUG.
_HINTED: set[str] = set()


def _hint_refusal(request: HttpRequest, logger: logging.Logger) -> None:
    """Log once, while ``DEBUG`` is on, why a page was answered with a 404.

    Django's debug 404 page says the URL pattern matched and nothing more,
    so a developer who has not set ``INTERNAL_IPS`` is left guessing; the
    reason goes to the server's log only, never into the response.
    """
    if logger.name in _HINTED:
        return
    _HINTED.add(logger.name)
    address = request.META.get("REMOTE_ADDR")
    logger.warning(
        "perfprobe answered %s %s from %r with a 404: its pages are shown to "
        "active staff users, to requests carrying its bearer token and, while "
        "DEBUG is on, to addresses in INTERNAL_IPS (now %r). To read it on this "
        "machine, add %r to INTERNAL_IPS. (Logged once, only while DEBUG is on.)",
        request.method,
        request.path,
        address,
        list(getattr(settings, "INTERNAL_IPS", ())),
        address,
    )


def _hint_off(request: HttpRequest, logger: logging.Logger, reason: str) -> None:
    """Log once, while ``DEBUG`` is on, that a page is off and how to turn it on.

    Like a refusal, the 404 of a page that is off (``/metrics`` mounted with
    ``PROMETHEUS`` left at its default) says nothing in Django's debug page.
    """
    key = f"{logger.name}:off"
    if key in _HINTED:
        return
    _HINTED.add(key)
    logger.warning(
        "perfprobe answered %s %s with a 404: %s (Logged once, only while DEBUG "
        "is on.)",
        request.method,
        request.path,
        reason,
    )


def require_access(
    request: HttpRequest, token: str | None, logger: logging.Logger | None = None
) -> None:
    """Raise ``Resolver404`` unless ``request`` has ``token`` or is staff/local debug.

    A 404 rather than a 403 does not tell strangers the page exists, and
    every refusal is the same ``Resolver404`` an unknown URL raises (see
    ``not_found``), rendered by the site's own 404 handler: nothing says
    which check failed. The token is checked first, so a scraper's request
    never loads a session. While ``DEBUG`` is on, the first refusal is
    explained once to ``logger``, in the server's log.
    """
    if not (has_token(request, token) or is_staff_or_debug(request)):
        if logger is not None and settings.DEBUG:
            _hint_refusal(request, logger)
        raise not_found(request)


def not_found(request: HttpRequest) -> Resolver404:
    """Return the exception Django's URL resolver raises for an unknown URL.

    Its argument is a dict like the resolver's, not a message: Django's
    ``page_not_found`` then shows ``Resolver404`` as ``{{ exception }}``,
    as for any unknown URL, where a message would be shown instead.
    """
    # The root resolver drops the leading slash, and so does its Resolver404.
    return Resolver404({"path": request.path_info.removeprefix("/")})


def _has_staff_flags(user: object) -> bool:
    # getattr: a site without AuthenticationMiddleware has no request.user,
    # and a custom user model need not define both flags.
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def _is_active_staff(request: HttpRequest) -> bool:
    """Return whether the user of ``request`` is active staff.

    Loading a lazy user reads the session, and SessionMiddleware then adds
    ``Vary: Cookie`` (or drops a stale cookie) on the way out, which an
    unknown URL does not: a stranger could tell the page exists. So the
    session is read first on its own, as any reader would (with Django's
    answer to a bogus or expired cookie: the cache and database backends
    empty the key, the signed-cookie one marks the session modified; none
    writes anything). When the user then loads, is refused, and loading
    changed nothing of that session (same key, same ``modified`` flag, same
    data), the session's in-memory state and the lazy user are put back as
    they were before the read, and whoever reads them later (a
    ``handler404`` showing the user, say) marks the response just as on an
    unknown URL. Any change is kept as it is: a ``flush()`` of a session
    whose password hash no longer matches (a logout, its record deleted), a
    key rotated by ``cycle_key()`` (a login signed with a
    ``SECRET_KEY_FALLBACKS`` key), or a write by a custom backend or loader;
    a session that is not a ``SessionBase`` is never put back. Putting a
    change back could undo a logout or make SessionMiddleware save a deleted
    session (a 400).
    """
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    # vars(): LazyObject keeps its state in its own __dict__; attribute
    # access would be forwarded to the wrapped user.
    if not isinstance(user, LazyObject) or vars(user).get("_wrapped") is not empty:
        return _has_staff_flags(user)
    # Only Django's own session class is known to be safe to put back.
    if session is not None and not isinstance(session, SessionBase):
        return _has_staff_flags(user)
    session_state = dict(vars(session)) if session is not None else {}
    had_cached_user = hasattr(request, "_cached_user")
    read = _read_session(session) if session is not None else None
    if _has_staff_flags(user):
        return True
    if session is not None and _read_session(session) != read:
        return False
    try:
        if session is not None:
            vars(session).clear()
            vars(session).update(session_state)
        vars(user)["_wrapped"] = empty
        # AuthenticationMiddleware's loader caches the user here; without
        # the cache a later read goes through the session again.
        if not had_cached_user and hasattr(request, "_cached_user"):
            del request._cached_user
    except Exception:  # pragma: no cover - an exotic user class
        pass
    return False


def _read_session(session: SessionBase) -> tuple[object, ...]:
    # What SessionMiddleware acts on: the key (None after a flush), the
    # modified flag and the data, loaded first if need be; a copy, as a
    # write changes the dict in place.
    data = dict(session.items())
    return (session.session_key, session.modified, data)


def keep_private(response: HttpResponseBase) -> HttpResponseBase:
    """Mark an allowed caller's ``response`` as never to be cached or indexed.

    perfprobe's pages are per caller and change with every request: no
    cache of any kind may keep one or hand it to someone else.
    """
    add_never_cache_headers(response)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def hidden_page(
    token_of: Callable[[PerfprobeSettings], str | None],
    logger: logging.Logger,
    shown: Callable[[PerfprobeSettings], bool] = lambda conf: True,
    off_reason: str = "",
) -> Callable[[PageView], PageView]:
    """Guard a perfprobe page so that only allowed callers learn it exists.

    In order: ``shown(settings)`` false (the feature is off) is a 404 for
    everyone, explained once by ``off_reason`` to ``logger`` while ``DEBUG``
    is on; a caller without the token ``token_of(settings)`` who is not
    staff or local debug gets a 404; an allowed caller using a method other
    than GET or HEAD gets a 405. Strangers thus get, for every method, the
    site's 404 for an unknown URL. Settings that cannot be read are logged
    once to ``logger``; strangers still get a 404, staff and local debug a
    plain 500 pointing to the log. Every answer to an allowed caller is
    kept private (``keep_private``). The page is CSRF exempt, as it only
    reads (CsrfViewMiddleware would otherwise answer a stranger's POST with
    a 403 before the access check could say 404), and ``unmonitored``.
    """

    def decorate(view: PageView) -> PageView:
        @functools.wraps(view)
        def guarded(request: HttpRequest) -> HttpResponseBase:
            try:
                conf = get_settings()
            except Exception:
                log_failure(
                    logger, "settings", "perfprobe cannot read PERFPROBE for its page"
                )
                return _unreadable_settings(request, logger)
            if not shown(conf):
                if off_reason and settings.DEBUG:
                    _hint_off(request, logger, off_reason)
                raise not_found(request)
            require_access(request, token_of(conf), logger)
            if request.method not in ALLOWED_METHODS:
                return keep_private(HttpResponseNotAllowed(ALLOWED_METHODS))
            return keep_private(view(request))

        return unmonitored(csrf_exempt(guarded))

    return decorate


def _unreadable_settings(request: HttpRequest, logger: logging.Logger) -> HttpResponse:
    # No token can be checked without the settings; staff and local debug
    # callers can, and they are told where to look rather than shown a 404.
    if not is_staff_or_debug(request):
        raise not_found(request)
    response = HttpResponse(
        f"perfprobe's PERFPROBE setting is invalid; see the {logger.name} log.\n",
        status=500,
        content_type="text/plain; charset=utf-8",
    )
    keep_private(response)
    return response


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
