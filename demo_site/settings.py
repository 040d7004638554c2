"""Settings for the perfprobe demo project; not meant for production use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

# Demo-only key: the demo has no sessions, users or signed data worth
# protecting. Any real deployment must set DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "perfprobe-demo-only-not-secret-do-not-deploy"
)

DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
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


def _database() -> dict[str, Any]:
    """Return the default database: SQLite unless PERFPROBE_DB_ENGINE says."""
    if os.environ.get("PERFPROBE_DB_ENGINE") == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "localhost"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "NAME": os.environ.get("PGDATABASE", "perfprobe_demo"),
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PERFPROBE_DEMO_DB", BASE_DIR / "db.sqlite3"),
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


DATABASES = {"default": _database()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# The library's documented defaults, except what the environment turns on:
# PERFPROBE_PROMETHEUS=1 serves /metrics (to PERFPROBE_METRICS_TOKEN's bearer).
PERFPROBE: dict[str, Any] = {}
if os.environ.get("PERFPROBE_PROMETHEUS") == "1":
    PERFPROBE["PROMETHEUS"] = True
if os.environ.get("PERFPROBE_METRICS_TOKEN"):
    PERFPROBE["METRICS_TOKEN"] = os.environ["PERFPROBE_METRICS_TOKEN"]

# Multiplies every nominal latency the shop injects; the demo overrides it at
# run time through apps.shop.latency.set_latency_scale().
SHOP_LATENCY_SCALE = float(os.environ.get("SHOP_LATENCY_SCALE", "1.0"))

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
    },
}
