"""Report ``PERFPROBE`` misconfiguration as Django system checks."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .conf import SETTINGS_NAME, load_settings


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Return an error (id ``perfprobe.E001``) when ``PERFPROBE`` is invalid."""
    from django.conf import settings

    try:
        load_settings(getattr(settings, SETTINGS_NAME, None))
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="See the Settings section of perfprobe's README.",
                id="perfprobe.E001",
            )
        ]
    return []


def check_middleware(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn (``perfprobe.W001``) when the request middleware is not installed."""
    from django.conf import settings

    name = "perfprobe.middleware.PerformanceMiddleware"
    if name not in getattr(settings, "MIDDLEWARE", []):
        return [
            checks.Warning(
                "perfprobe's request middleware is not installed, so requests "
                "are not monitored.",
                hint=f"Add {name!r} near the top of MIDDLEWARE.",
                id="perfprobe.W001",
            )
        ]
    return []


def check_prometheus(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn (``perfprobe.W002``) when PROMETHEUS is on without its client."""
    from .conf import get_settings
    from .prometheus.runtime import client_available

    try:
        wanted = get_settings().PROMETHEUS
    except ImproperlyConfigured:
        return []  # reported by check_settings
    if wanted and not client_available():
        return [
            checks.Warning(
                'PERFPROBE["PROMETHEUS"] is on but prometheus_client is not '
                "installed, so /metrics cannot answer.",
                hint="pip install 'django-perfprobe[prometheus]'",
                id="perfprobe.W002",
            )
        ]
    return []


def register() -> None:
    """Register perfprobe's checks with Django."""
    checks.register(check_settings, "perfprobe")
    checks.register(check_middleware, "perfprobe")
    checks.register(check_prometheus, "perfprobe")
