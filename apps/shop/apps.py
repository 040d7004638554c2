"""Configure the shop app and hook its database helpers into Django."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """Register the shop and its SQLite sleep function."""

    name = "apps.shop"
    label = "shop"
    verbose_name = "Sample shop"

    def ready(self) -> None:
        """Install perfprobe_sleep() on every SQLite connection."""
        from django.db import connections
        from django.db.backends.signals import connection_created

        from apps.shop import latency

        connection_created.connect(
            latency.register_sqlite_functions,
            dispatch_uid="apps.shop.latency.register_sqlite_functions",
        )
        # A connection opened before this app was ready never sent the signal.
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                latency.register_sqlite_functions(
                    sender=type(connection), connection=connection
                )
