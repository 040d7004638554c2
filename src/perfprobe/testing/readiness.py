"""Tell whether perfprobe records queries here, so no budget passes by default."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

_SET_UP = (
    "configure Django settings (DJANGO_SETTINGS_MODULE, or pytest-django's --ds) "
    "and call django.setup()"
)


def recording_problem() -> str | None:
    """Return why queries are not being recorded now, or ``None`` when they are.

    A query budget checked while nothing records queries would pass
    whatever the code did, so the assertions and the pytest plugin refuse
    to run with the reason this returns.
    """
    if not apps.ready:
        return f"Django is not set up: {_SET_UP}"
    if not apps.is_installed("perfprobe"):
        return "'perfprobe' is not in INSTALLED_APPS, so no query is recorded"

    # Imported only once Django is set up: both read its settings.
    from ..apps import startup_error
    from ..conf import get_settings
    from ..db.installer import is_installed

    error = startup_error()
    if error is not None:
        return f"perfprobe is off: {error}"
    try:
        conf = get_settings()
    except ImproperlyConfigured as exc:
        return f"perfprobe is off: {exc}"
    for key in ("ENABLED", "INSTRUMENT_DATABASE"):
        if not getattr(conf, key):
            return f"PERFPROBE[{key!r}] is off, so no query is recorded"
    if not is_installed():
        return "perfprobe's query instrumentation is not installed"
    return None


class NotRecording(ImproperlyConfigured):
    """Raised when a query assertion is used while perfprobe records no query."""


def require_recording(what: str) -> None:
    """Raise ``NotRecording`` naming ``what`` unless queries are being recorded."""
    problem = recording_problem()
    if problem is not None:
        raise NotRecording(f"{what} cannot check queries: {problem}")
