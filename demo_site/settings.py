"""Settings for the perfprobe demo project; not meant for production use."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _switch(name: str) -> bool:
    """Return whether the variable ``name`` is 1; raise ImproperlyConfigured.

    Unset, empty and 0 are off; anything else ("true", "yes") is refused
    rather than read as off without a word.
    """
    value = os.environ.get(name, "")
    if value not in ("", "0", "1"):
        raise ImproperlyConfigured(f"{name}={value!r}: expected 1 (on) or 0 (off).")
    return value == "1"


def _scale(name: str) -> float:
    """Return the variable ``name`` as a finite number >= 0 (1.0 when unset)."""
    value = os.environ.get(name, "")
    if not value:
        return 1.0
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ImproperlyConfigured(
            f"{name}={value!r}: expected a number of 0 or more, such as 0.1."
        )
    return number


# Demo-only key: the demo has no sessions, users or signed data worth
# protecting. Any real deployment must set DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "perfprobe-demo-only-not-secret-do-not-deploy"
)

DEBUG = _switch("DJANGO_DEBUG")
# Who may read /perfprobe/ while DEBUG is on (staff users always may).
INTERNAL_IPS = ["127.0.0.1", "::1"]

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "perfprobe",
    "apps.shop",
    "apps.debugging",
]

# The monitor goes first so its timings include every other middleware.
MIDDLEWARE = [
    "perfprobe.middleware.PerformanceMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"
ASGI_APPLICATION = "demo_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]


def _sqlite_database(name: str | Path) -> dict[str, Any]:
    """Return the demo's SQLite database settings for the file ``name``."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": {
            # WAL lets the demo's concurrent readers run beside one writer;
            # IMMEDIATE takes the write lock at BEGIN, so two writers wait on
            # the timeout instead of failing with "database is locked" mid-way.
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
        # Tests that start threads need a file: an in-memory database is
        # private to the connection that opened it.
        "TEST": {
            "NAME": os.environ.get("PERFPROBE_TEST_DB", BASE_DIR / "test_db.sqlite3")
        },
    }


_URL_FORMS = "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH"
_URL_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}


def _database_from_url(url: str) -> dict[str, Any]:
    """Return the database a DATABASE_URL names; raise ImproperlyConfigured.

    Only PostgreSQL and SQLite URLs are accepted: the demo's database-side
    sleep and statement timeout exist for those two backends only. The
    messages never repeat the URL, which can hold a password.
    """
    try:
        scheme = urlsplit(url).scheme if "://" in url else ""
    except ValueError:
        scheme = ""
    if scheme not in _URL_SCHEMES:
        found = f"the scheme {scheme!r}" if scheme else "no scheme"
        raise ImproperlyConfigured(f"DATABASE_URL has {found}; expected {_URL_FORMS}")
    try:
        import dj_database_url
    except ImportError:
        raise ImproperlyConfigured(
            "DATABASE_URL is set but dj-database-url is not installed; "
            "install it with: pip install 'django-perfprobe[postgres]'"
        ) from None
    try:
        parsed = dj_database_url.parse(url)
    except Exception as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a valid URL ({exc}); expected {_URL_FORMS}"
        ) from None
    if not parsed.get("NAME"):
        raise ImproperlyConfigured(
            f"DATABASE_URL names no database; expected {_URL_FORMS}"
        )
    if scheme == "sqlite":
        return _sqlite_database(str(parsed["NAME"]))
    # The test runner creates and drops a database of its own, test_<NAME>.
    return dict(parsed)


def _database() -> dict[str, Any]:
    """Return the default database: DATABASE_URL if set, else SQLite."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return _database_from_url(url)
    return _sqlite_database(
        os.environ.get("PERFPROBE_DEMO_DB", BASE_DIR / "db.sqlite3")
    )


DATABASES = {"default": _database()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# The library's documented defaults, except what the environment turns on:
# PERFPROBE_PROMETHEUS=1 serves /metrics (to PERFPROBE_METRICS_TOKEN's bearer),
# PERFPROBE_REPORT_TOKEN opens /perfprobe/ to its bearer.
PERFPROBE: dict[str, Any] = {}
if _switch("PERFPROBE_PROMETHEUS"):
    PERFPROBE["PROMETHEUS"] = True
if os.environ.get("PERFPROBE_METRICS_TOKEN"):
    PERFPROBE["METRICS_TOKEN"] = os.environ["PERFPROBE_METRICS_TOKEN"]
if os.environ.get("PERFPROBE_REPORT_TOKEN"):
    PERFPROBE["REPORT_TOKEN"] = os.environ["PERFPROBE_REPORT_TOKEN"]

# Multiplies every nominal latency the shop injects; the demo overrides it at
# run time through apps.shop.latency.set_latency_scale().
SHOP_LATENCY_SCALE = _scale("SHOP_LATENCY_SCALE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        # Threshold warnings (slow query, slow operation) are the report's
        # business in the demo; the console shows only failures.
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "level": "ERROR",
        },
        "null": {"class": "logging.NullHandler"},
    },
    "loggers": {
        # The demo's invoice endpoint fails on purpose and the monitor records
        # every 500 itself, so tracebacks here would only bury the report.
        "django.request": {"handlers": ["null"], "level": "ERROR", "propagate": False},
        # Propagation stays on so pytest's caplog, which listens on the root
        # logger, still sees the library's warnings.
        "perfprobe": {"handlers": ["console"], "level": "WARNING"},
        # A failed scenario is on the progress line and in the report; its
        # warning would print a second time (Python's last-resort handler
        # writes WARNING and above of loggers that have none).
        "apps.debugging": {"handlers": ["console"], "level": "WARNING"},
    },
}
