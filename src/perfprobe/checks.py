"""Report ``PERFPROBE`` misconfiguration as Django system checks.

Ids are stable and never renumbered: errors ``perfprobe.E0xx``, warnings
``perfprobe.W0xx``. docs/deploying-controls.md lists them with their hints.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from .conf import SETTINGS_NAME, PerfprobeSettings, load_settings, settings_problems

MIDDLEWARE = "perfprobe.middleware.PerformanceMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
# prometheus_client reads the upper-case name, and the lower-case one that
# older releases used.
MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")

Messages = list[checks.CheckMessage]


def _settings() -> PerfprobeSettings | None:
    # Invalid settings are E001's to report; the other checks then stay quiet.
    from django.conf import settings

    try:
        return load_settings(getattr(settings, SETTINGS_NAME, None))
    except ImproperlyConfigured:
        return None


def check_settings(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Return an error (id ``perfprobe.E001``) per fault of ``PERFPROBE``."""
    from django.conf import settings

    return [
        checks.Error(
            problem,
            hint="Correct the key named above (see the Settings section "
            "of perfprobe's README); until then perfprobe records nothing "
            "and its middleware refuses to start a server.",
            id="perfprobe.E001",
        )
        for problem in settings_problems(getattr(settings, SETTINGS_NAME, None))
    ]


def check_middleware(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn when the middleware is missing (``W001``) or not first (``W002``)."""
    from django.conf import settings

    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        # A misspelt path (perfprobe.middleware.PerfMiddleware) is not the
        # middleware either; name it, or Django's import error comes later
        # with nothing pointing back here.
        lookalikes = [
            entry
            for entry in middleware
            if isinstance(entry, str) and entry.startswith("perfprobe")
        ]
        hint = f"Add {MIDDLEWARE!r} near the top of MIDDLEWARE."
        if lookalikes:
            hint = (
                f"MIDDLEWARE has {', '.join(map(repr, lookalikes))}, which is not "
                f"perfprobe's middleware: did you mean {MIDDLEWARE!r}?"
            )
        return [
            checks.Warning(
                "perfprobe's request middleware is not installed, so requests "
                "are not monitored.",
                hint=hint,
                id="perfprobe.W001",
            )
        ]
    if middleware[0] != MIDDLEWARE:
        return [
            checks.Warning(
                "perfprobe's request middleware is not first in MIDDLEWARE, so "
                "request timings leave out the middleware above it "
                f"({middleware[0]!r}).",
                hint=f"Move {MIDDLEWARE!r} to the top of MIDDLEWARE.",
                id="perfprobe.W002",
            )
        ]
    return []


def check_sampling(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn when no request is monitored: ``SAMPLE_RATE`` 0 (``W003``), or an
    ``EXCLUDE_PATHS`` prefix that every path starts with (``W008``)."""
    conf = _settings()
    if conf is None or not (conf.ENABLED and conf.MONITOR_REQUESTS):
        return []
    warnings: Messages = []
    if conf.SAMPLE_RATE == 0:
        warnings.append(
            checks.Warning(
                f"{SETTINGS_NAME}['SAMPLE_RATE'] is 0 while requests are "
                "monitored, so no request is.",
                hint="Set SAMPLE_RATE above 0 (1.0 monitors every request), or "
                "set MONITOR_REQUESTS to False to say that none should be.",
                id="perfprobe.W003",
            )
        )
    # Every path_info starts with "/", and the empty prefix is refused by
    # validation: "/" is the one prefix that excludes everything.
    if "/" in conf.EXCLUDE_PATHS:
        warnings.append(
            checks.Warning(
                f"{SETTINGS_NAME}['EXCLUDE_PATHS'] contains '/', which every "
                "path starts with, so no request is monitored.",
                hint="List only the prefixes to leave out, e.g. ['/healthz'], "
                "or set MONITOR_REQUESTS to False to say that none should be.",
                id="perfprobe.W008",
            )
        )
    return warnings


def check_prometheus(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Error when ``PROMETHEUS`` cannot work: no client (E002), bad dir (E003)."""
    conf = _settings()
    if conf is None or not (conf.ENABLED and conf.PROMETHEUS):
        return []
    errors: Messages = []
    if importlib.util.find_spec("prometheus_client") is None:
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['PROMETHEUS'] is True but prometheus_client "
                "cannot be imported.",
                hint="Install it: pip install 'django-perfprobe[prometheus]'.",
                id="perfprobe.E002",
            )
        )
    for name in MULTIPROC_ENV:
        path = os.environ.get(name)
        if path and not (os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)):
            errors.append(
                checks.Error(
                    f"The environment variable {name} is {path!r}, which is not "
                    "an existing directory this process can write to; "
                    "prometheus_client keeps its multi-process metrics there.",
                    hint=f"Create the directory (empty) before the workers start, "
                    f"or unset {name} for a single process.",
                    id="perfprobe.E003",
                )
            )
    return errors


def check_personal_data(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn when personal data is kept with ``DEBUG`` off (``W004``, ``W005``)."""
    from django.conf import settings

    conf = _settings()
    if conf is None or not conf.ENABLED or settings.DEBUG:
        return []
    warnings: Messages = []
    if conf.STORE_SQL_PARAMETERS:
        warnings.append(
            checks.Warning(
                f"{SETTINGS_NAME}['STORE_SQL_PARAMETERS'] is True while DEBUG "
                "is off: query parameters and raw SQL, which can hold personal "
                "data, are kept in memory and shown in reports.",
                hint="Turn STORE_SQL_PARAMETERS off in production.",
                id="perfprobe.W004",
            )
        )
    if conf.STORE_QUERY_STRINGS:
        warnings.append(
            checks.Warning(
                f"{SETTINGS_NAME}['STORE_QUERY_STRINGS'] is True while DEBUG "
                "is off: query strings, which can hold tokens and personal "
                "data, are kept in memory and shown in reports.",
                hint="Turn STORE_QUERY_STRINGS off in production.",
                id="perfprobe.W005",
            )
        )
    return warnings


def check_tokens(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn (``W006``) when one bearer token opens both the report and /metrics."""
    conf = _settings()
    if conf is None or conf.REPORT_TOKEN is None:
        return []
    if conf.REPORT_TOKEN == conf.METRICS_TOKEN:
        return [
            checks.Warning(
                f"{SETTINGS_NAME}['REPORT_TOKEN'] equals METRICS_TOKEN, so "
                "every metrics scraper can also read the full report (SQL "
                "fingerprints, call sites, errors).",
                hint="Give the report its own token.",
                id="perfprobe.W006",
            )
        ]
    return []


def _resolvers(patterns: list[URLPattern | URLResolver]) -> Iterator[URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield pattern
            yield from _resolvers(pattern.url_patterns)


def _has_auth_middleware(middleware: list[str]) -> bool:
    from django.contrib.auth.middleware import AuthenticationMiddleware

    for path in middleware:
        try:
            cls = import_string(path)
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, AuthenticationMiddleware):
            return True
    return False


def check_report_reachable(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn (``W007``, with ``--deploy``) when the mounted report has no way in.

    Without ``REPORT_TOKEN`` the report is shown only to staff users, whom
    ``request.user`` names only under ``AuthenticationMiddleware``, and to
    ``INTERNAL_IPS`` while ``DEBUG`` is on: in production, to nobody.
    """
    from django.conf import settings

    conf = _settings()
    if conf is None or conf.REPORT_TOKEN is not None:
        return []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    try:
        mounted = any(
            resolver.app_name == "perfprobe"
            for resolver in _resolvers(get_resolver().url_patterns)
        )
    except Exception:
        # A broken URLconf is reported by Django's own URL checks.
        return []
    if mounted and not _has_auth_middleware(middleware):
        return [
            checks.Warning(
                "perfprobe.urls is mounted, but without REPORT_TOKEN or "
                f"{AUTH_MIDDLEWARE} nobody can read the report unless DEBUG "
                "is on.",
                hint=f"Set {SETTINGS_NAME}['REPORT_TOKEN'] to a long random "
                f"string, or add {AUTH_MIDDLEWARE!r} so staff users can read it.",
                id="perfprobe.W007",
            )
        ]
    return []


def check_metrics_reachable(app_configs: Any = None, **kwargs: Any) -> Messages:
    """Warn (``W009``, with ``--deploy``) when ``/metrics`` has no way in.

    Without ``METRICS_TOKEN`` the metrics are served only to staff users,
    whom ``request.user`` names only under ``AuthenticationMiddleware``, and
    to ``INTERNAL_IPS`` while ``DEBUG`` is on: in production, to no scraper.
    """
    from django.conf import settings

    conf = _settings()
    if conf is None or not (conf.ENABLED and conf.PROMETHEUS):
        return []
    if conf.METRICS_TOKEN is not None:
        return []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if _has_auth_middleware(middleware):
        return []
    return [
        checks.Warning(
            f"{SETTINGS_NAME}['PROMETHEUS'] is True, but without METRICS_TOKEN "
            f"or {AUTH_MIDDLEWARE} nobody can scrape /metrics unless DEBUG "
            "is on.",
            hint=f"Set {SETTINGS_NAME}['METRICS_TOKEN'] to a long random string "
            "and give it to Prometheus as its bearer token.",
            id="perfprobe.W009",
        )
    ]


def register() -> None:
    """Register perfprobe's checks with Django."""
    for check in (
        check_settings,
        check_middleware,
        check_sampling,
        check_prometheus,
        check_personal_data,
        check_tokens,
    ):
        checks.register(check, "perfprobe")
    # A deployment concern: `manage.py check --deploy` runs it, as Django's
    # own security checks; development with DEBUG on needs no token.
    checks.register(check_report_reachable, "perfprobe", checks.Tags.urls, deploy=True)
    checks.register(check_metrics_reachable, "perfprobe", deploy=True)
