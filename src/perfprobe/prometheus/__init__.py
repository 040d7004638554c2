"""Export perfprobe's measurements to Prometheus, when ``PROMETHEUS`` is on.

Importing this package does not import ``prometheus_client``: the URLconf
can mount ``metrics_view`` whether or not the setting is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazynames import lazy_names

if TYPE_CHECKING:
    from .runtime import install, uninstall
    from .views import metrics_view

__all__ = ["install", "metrics_view", "uninstall"]

# Imported when first asked for, not with the package (see
# perfprobe.lazynames): a thread importing the exporter while another
# imported the views could be handed a half-initialised module.
__getattr__ = lazy_names(
    __name__,
    {"install": "runtime", "metrics_view": "views", "uninstall": "runtime"},
)
