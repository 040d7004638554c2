"""Check the demo database is ready and fill it with sample data when empty."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from apps.shop.sample_data import ensure_sample_data


class DemoSetupError(Exception):
    """The demo cannot run yet; the message says which command fixes it."""


def check_migrations(using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise ``DemoSetupError`` naming ``migrate`` if migrations are unapplied."""
    connection = connections[using]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        apps = sorted({migration.app_label for migration, _ in plan})
        raise DemoSetupError(
            f"The database {connection.settings_dict['NAME']!s} has "
            f"{len(plan)} unapplied migration(s) for {', '.join(apps)}; "
            "run `python manage.py migrate` first."
        )


def prepare_database(seed: int, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Check migrations, then create sample data if the shop is empty.

    Return True when sample data was created. Raise ``DemoSetupError`` when
    the database cannot be used at all (not a database, read-only, locked).
    """
    try:
        check_migrations(using)
        return ensure_sample_data(seed=seed)
    except DatabaseError as exc:
        connection = connections[using]
        name = connection.settings_dict["NAME"]
        if connection.vendor == "sqlite":
            hint = "Check the file, or point PERFPROBE_DEMO_DB at a new one"
        else:
            hint = "Check that the server runs and DATABASE_URL names it"
        # psycopg's messages span lines; the command's error is one line.
        reason = " ".join(str(exc).split())
        raise DemoSetupError(
            f"The demo database {name!s} cannot be used: {reason}. {hint}, "
            "and run `python manage.py migrate`."
        ) from exc
