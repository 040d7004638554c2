"""Configure the demo app."""

from __future__ import annotations

from django.apps import AppConfig


class DebuggingConfig(AppConfig):
    """Register the performance demo with Django."""

    name = "apps.debugging"
    label = "debugging"
    verbose_name = "Performance demo"
