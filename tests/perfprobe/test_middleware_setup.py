"""Tests for the middleware's start-up: a missing app is told, not hidden."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A project of one view with the middleware in MIDDLEWARE; the apps vary.
_PROJECT_SCRIPT = """
import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path


def view(request):
    return HttpResponse("ok")


urlpatterns = [path("", view)]
settings.configure(
    DEBUG=True,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=%r,
    MIDDLEWARE=["perfprobe.middleware.PerformanceMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django.test import Client

# Each client loads the middleware afresh, as each server process does.
for _ in range(3):
    print(Client().get("/").status_code)
"""

_WARNING = (
    "perfprobe's middleware is in MIDDLEWARE but 'perfprobe' is not in INSTALLED_APPS"
)


def _serve(installed_apps: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROJECT_SCRIPT % (installed_apps,)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_middleware_without_the_app_warns_once_and_serves() -> None:
    """Without the app, a WARNING names INSTALLED_APPS once; requests are served.

    The middleware alone timed requests, but no query was recorded, no N+1
    found and no system check run, and nothing said so: the live report of
    a view with an N+1 showed no finding at all.
    """
    done = _serve([])

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "200", "200"]
    assert done.stderr.count(_WARNING) == 1
    assert "add 'perfprobe' to INSTALLED_APPS" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("entry", ["perfprobe", "perfprobe.apps.PerfprobeConfig"])
def test_middleware_with_the_app_says_nothing(entry: str) -> None:
    """With the app installed, by name or by its config class, nothing is logged."""
    done = _serve([entry])

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "200", "200"]
    assert _WARNING not in done.stderr


def test_middleware_made_before_django_setup_raises_nothing() -> None:
    """Before the app registry is ready nothing can be told: no error, no line."""
    script = (
        "from django.conf import settings\n"
        "settings.configure()\n"
        "from perfprobe.middleware import PerformanceMiddleware\n"
        "PerformanceMiddleware(lambda request: None)\n"
        "print('made')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["made"]
    assert _WARNING not in done.stderr
