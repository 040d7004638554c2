"""Register the benchmark site as a Django app."""

from __future__ import annotations

from django.apps import AppConfig


class BenchSiteConfig(AppConfig):
    """The benchmark's authors and books; tables made by ``--run-syncdb``."""

    name = "bench.requests.site"
    label = "benchsite"
    default_auto_field = "django.db.models.BigAutoField"
