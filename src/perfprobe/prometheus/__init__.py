"""Export perfprobe's measurements to Prometheus, when ``PROMETHEUS`` is on.

Importing this package does not import ``prometheus_client``: the URLconf
can mount ``metrics_view`` whether or not the setting is on.
"""

from __future__ import annotations

from .runtime import install, uninstall
from .views import metrics_view

__all__ = ["install", "metrics_view", "uninstall"]
