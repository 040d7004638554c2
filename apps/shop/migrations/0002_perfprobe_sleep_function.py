"""Create perfprobe_sleep() on PostgreSQL; SQLite gets it per connection."""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE_SQL = (
    "CREATE OR REPLACE FUNCTION perfprobe_sleep(float8) RETURNS integer "
    "AS $$ SELECT 0 FROM pg_sleep($1) $$ LANGUAGE sql VOLATILE"
)
DROP_SQL = "DROP FUNCTION IF EXISTS perfprobe_sleep(float8)"


def create_function(apps: Any, schema_editor: Any) -> None:
    """Create the sleep function when migrating a PostgreSQL database."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_SQL)


def drop_function(apps: Any, schema_editor: Any) -> None:
    """Drop the sleep function when unapplying on PostgreSQL."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [migrations.RunPython(create_function, drop_function, elidable=False)]
