"""Tests for the demo's database settings read from DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from demo_site.settings import _database_from_url


def test_a_postgres_url_gives_a_postgresql_database():
    """Every part of a postgres:// URL lands in its DATABASES key."""
    database = _database_from_url("postgres://shop:s3cret@127.0.0.1:6543/shopdb")

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"]) == ("shop", "s3cret")
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "127.0.0.1",
        6543,
        "shopdb",
    )
    # Django's default test database name, test_shopdb, applies.
    assert not database.get("TEST", {}).get("NAME")


def test_a_sqlite_url_keeps_the_demo_sqlite_options():
    """A sqlite:// URL names the file; WAL and the test file stay as by default."""
    database = _database_from_url("sqlite:////tmp/elsewhere.sqlite3")

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == "/tmp/elsewhere.sqlite3"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]
    assert database["TEST"]["NAME"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("garbage", "has no scheme"),
        ("mysql://u:p@h/db", "has the scheme 'mysql'"),
        ("postgres://u:p@h:5432", "names no database"),
        ("postgres://u@h:notaport/db", "is not a valid URL"),
    ],
)
def test_a_bad_url_is_refused_by_name(url, message):
    """A URL that is not a usable database says what is wrong with DATABASE_URL."""
    with pytest.raises(ImproperlyConfigured, match=f"^DATABASE_URL {message}"):
        _database_from_url(url)


def test_the_password_is_never_repeated_in_an_error():
    """An error about a URL does not echo the password it holds."""
    with pytest.raises(ImproperlyConfigured) as excinfo:
        _database_from_url("mysql://u:hunter2hunter2@h/db")

    assert "hunter2" not in str(excinfo.value)


def test_manage_py_prints_one_line_for_a_bad_url():
    """manage.py with a bad DATABASE_URL exits 1 with one line, no traceback."""
    env = {**os.environ, "DATABASE_URL": "nonsense://x/y"}
    result = subprocess.run(
        [sys.executable, "manage.py", "run_performance_demo", "--time-scale", "0.1"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: DATABASE_URL has the scheme 'nonsense'; expected "
        "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH"
    ]


def _run_demo(
    args: list[str], variables: dict[str, str], check: bool
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in the project with only ``variables`` of the demo's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PERFPROBE_", "DATABASE_URL", "DJANGO_", "SHOP_"))
    }
    env.update(variables)
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def _manage_check(**variables: str) -> subprocess.CompletedProcess[str]:
    return _run_demo(["manage.py", "check"], variables, check=False)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PERFPROBE_PROMETHEUS", "true", "expected 1 (on) or 0 (off)"),
        ("DJANGO_DEBUG", "yes", "expected 1 (on) or 0 (off)"),
        ("SHOP_LATENCY_SCALE", "0,1", "expected a number of 0 or more, such as 0.1"),
        ("SHOP_LATENCY_SCALE", "-1", "expected a number of 0 or more, such as 0.1"),
        ("SHOP_LATENCY_SCALE", "nan", "expected a number of 0 or more, such as 0.1"),
    ],
)
def test_a_bad_switch_or_scale_in_the_environment_is_one_line(name, value, expected):
    """A demo variable the settings cannot use stops manage.py with one line.

    ``PERFPROBE_PROMETHEUS=true`` left /metrics off without a word (only "1"
    turned it on), and ``SHOP_LATENCY_SCALE=0,1`` ended in a traceback.
    """
    result = _manage_check(**{name: value})

    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Error: {name}={value!r}: {expected}."]


@pytest.mark.parametrize(
    ("variables", "debug", "prometheus", "scale"),
    [
        ({}, False, False, 1.0),
        ({"DJANGO_DEBUG": "0", "PERFPROBE_PROMETHEUS": "0"}, False, False, 1.0),
        (
            {
                "DJANGO_DEBUG": "1",
                "PERFPROBE_PROMETHEUS": "1",
                "SHOP_LATENCY_SCALE": "0.1",
            },
            True,
            True,
            0.1,
        ),
    ],
)
def test_good_switches_and_scales_are_read(variables, debug, prometheus, scale):
    """1 and 0 (or unset) are the switches' values; a scale is any number >= 0."""
    code = (
        "import demo_site.settings as s; "
        "print(s.DEBUG, s.PERFPROBE.get('PROMETHEUS', False), s.SHOP_LATENCY_SCALE)"
    )
    result = _run_demo(["-c", code], variables, check=True)

    assert result.stdout.split() == [str(debug), str(prometheus), str(scale)]
