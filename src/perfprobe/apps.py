"""Wire perfprobe into Django: checks, database instrumentation, exporters."""

from __future__ import annotations

from django.apps import AppConfig


class PerfprobeConfig(AppConfig):
    """Install the query instrumentation and register the system checks."""

    name = "perfprobe"
    verbose_name = "perfprobe"

    def ready(self) -> None:
        """Register checks and start instrumenting database connections."""
        from . import checks
        from .conf import get_settings
        from .db.instrument import install
        from .monitoring import monitor

        checks.register()
        # Reading the settings validates them, so a wrong PERFPROBE value
        # fails at start-up with ImproperlyConfigured naming the key.
        conf = get_settings()
        monitor.reset()
        if conf.ENABLED and conf.INSTRUMENT_DATABASE:
            install()
        if conf.PROMETHEUS:
            # Imported only here, so that with the setting off neither the
            # exporter nor prometheus_client is ever imported.
            from .prometheus import install as install_prometheus

            install_prometheus()
