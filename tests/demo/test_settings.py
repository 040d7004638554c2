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
