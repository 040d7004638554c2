"""Drop perfprobe_sleep() on PostgreSQL: the delay now calls pg_sleep() itself."""

from __future__ import annotations

from typing import Any

from django.db import migrations

# As in 0002, so that unapplying this migration restores what 0002 made.
CREATE_SQL = (
    "CREATE OR REPLACE FUNCTION perfprobe_sleep(float8) RETURNS integer "
    "AS $$ SELECT 0 FROM pg_sleep($1) $$ LANGUAGE sql VOLATILE"
)
DROP_SQL = "DROP FUNCTION IF EXISTS perfprobe_sleep(float8)"


def drop_function(apps: Any, schema_editor: Any) -> None:
    """Drop the function 0002 created, on PostgreSQL only."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


def create_function(apps: Any, schema_editor: Any) -> None:
    """Create it again when this migration is unapplied."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_SQL)


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_perfprobe_sleep_function")]

    operations = [migrations.RunPython(drop_function, create_function, elidable=True)]
