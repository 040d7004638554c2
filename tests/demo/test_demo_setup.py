"""Tests for the demo's set-up and stopping: unapplied migrations, Ctrl-C."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from apps.debugging.performance_demo import PerformanceDemo
from apps.debugging.scenarios import Scenario, register_scenario
from apps.debugging.setup import DemoSetupError, check_migrations
from apps.shop.models import Customer
from tests.aliases import extra_alias
from tests.demo.signals import sigint_after


@pytest.fixture
def empty_database(tmp_path: Path, django_db_blocker: Any) -> Iterator[str]:
    """Add a connection alias to a new, empty database; remove it after.

    On SQLite the database is a new file; on PostgreSQL a new database on
    the test server, dropped afterwards.
    """
    alias = "perfprobe_empty"
    default = connections[DEFAULT_DB_ALIAS]
    if default.vendor == "postgresql":
        name = f"{default.settings_dict['NAME']}_empty"[:63]
        with django_db_blocker.unblock(), default._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    else:
        name = str(tmp_path / "empty.sqlite3")
    settings = {**connections.settings[DEFAULT_DB_ALIAS], "NAME": name}
    try:
        with extra_alias(alias, settings, django_db_blocker):
            yield alias
    finally:
        if default.vendor == "postgresql":
            with django_db_blocker.unblock(), default._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_unapplied_migrations_name_the_migrate_command(empty_database):
    """A database without migrations fails with `python manage.py migrate`."""
    with pytest.raises(DemoSetupError, match=r"python manage\.py migrate"):
        check_migrations(using=empty_database)


class SleepyScenario(Scenario):
    """Run one query that sleeps inside the database."""

    name = "test_sleepy"
    seconds = 0.01
    #: Send a Ctrl-C this long after the sleeping query starts, if set.
    interrupt_after_s: float | None = None

    def run(self) -> dict[str, Any]:
        from apps.shop.latency import DatabaseDelay

        # Armed here rather than before the demo starts: a Ctrl-C that lands
        # while the demo's set-up collects garbage can hit a weakref callback,
        # where CPython prints and drops it (seen in the full suite).
        with (
            contextlib.nullcontext()
            if self.interrupt_after_s is None
            else sigint_after(self.interrupt_after_s)
        ):
            count = Customer.objects.filter(DatabaseDelay(self.seconds)).count()
        return {"n": count}


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_during_a_database_sleep_stops_the_demo(
    scenario_cleanup, monkeypatch, ctrl_c_raises
):
    """Ctrl-C inside the SQL sleep stops the run instead of failing one scenario."""
    register_scenario(SleepyScenario)
    scenario_cleanup.append(SleepyScenario.name)
    # SQLite sleeps in Python inside sqlite3, which turns the interrupt into
    # an OperationalError that the demo turns back into Ctrl-C; PostgreSQL
    # sleeps in the server, and psycopg cancels the query and re-raises.
    monkeypatch.setattr(SleepyScenario, "seconds", 5.0)
    monkeypatch.setattr(SleepyScenario, "interrupt_after_s", 0.3)

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        PerformanceDemo(time_scale=0.02).run_full_demo(
            scenarios=[SleepyScenario.name, "memory_intensive"]
        )

    # Well before the 5 s sleep would have ended by itself.
    assert time.perf_counter() - started < 3.0
