"""Run one Prometheus exporter per process and render what it exposes.

Nothing here imports ``prometheus_client`` until ``install()`` or
``render()`` is called, so with ``PERFPROBE["PROMETHEUS"]`` off the client
is never imported.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import TYPE_CHECKING

from .. import monitoring
from ..failures import log_failure

if TYPE_CHECKING:
    from .exporter import PrometheusExporter

logger = logging.getLogger("perfprobe.prometheus")

#: The variable that switches ``prometheus_client`` to multi-process mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_lock = threading.Lock()
_exporter: PrometheusExporter | None = None


def multiprocess_dir() -> str | None:
    """Return ``PROMETHEUS_MULTIPROC_DIR``, or ``None`` in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def install() -> PrometheusExporter | None:
    """Make the process's exporter listen to the default monitor's collector.

    Safe to call again: it creates the exporter once and, if
    ``perfprobe.monitor`` or its collector was replaced since, moves the
    listeners to the new one. Return ``None`` when ``prometheus_client`` is
    missing or the exporter cannot start; each kind of failure is logged
    once (``perfprobe.failures``), and the next call tries again.
    """
    global _exporter
    try:
        with _lock:
            if _exporter is None:
                _exporter = _new_exporter()
                # No scrape reaches a process gone: what waits is counted
                # as it ends (a command, a task runner, a recycled worker).
                atexit.register(count_waiting_queries)
            exporter = _exporter
        exporter.attach(monitoring.monitor.collector)
    except ImportError:
        log_failure(
            logger,
            "client-missing",
            'PERFPROBE["PROMETHEUS"] is on but prometheus_client cannot be '
            "imported; install django-perfprobe[prometheus]",
        )
        return None
    except Exception:
        # Metrics are registered all or nothing, so a later call, once the
        # cause is gone (a name clash, say), can still start the exporter.
        log_failure(
            logger, "install", "perfprobe could not start its Prometheus exporter"
        )
        return None
    return exporter


def count_waiting_queries() -> None:
    """Fold in the raw queries waiting in this process, so they are counted.

    The exporter counts a query when its thread's log is folded in (at a
    request's end, at a read, at a scrape of this process, or once a thread
    has ``QUERY_BATCH`` waiting); this is called at the process's exit.
    """
    exporter = _exporter
    collector = exporter.collector if exporter is not None else None
    if collector is None:
        return
    try:
        collector.fold_queries()
    except Exception:
        log_failure(logger, "exit-fold", "perfprobe could not count waiting queries")


def uninstall() -> None:
    """Stop the process's exporter listening; its metrics keep their values."""
    with _lock:
        exporter = _exporter
    if exporter is not None:
        exporter.detach()


def _new_exporter() -> PrometheusExporter:
    from prometheus_client import REGISTRY

    from .exporter import PrometheusExporter

    # In multi-process mode each scrape builds its own registry from the
    # files; registering there too would only expose one worker's values
    # to anyone who renders the default registry.
    registry = None if multiprocess_dir() else REGISTRY
    return PrometheusExporter(registry)


def render(accept: str | None) -> tuple[bytes, str]:
    """Return the exposition of every metric and its content type.

    The format follows the scraper's ``Accept`` header (OpenMetrics or the
    text format, the text format by default). In multi-process mode the
    values of every worker, live or dead, are merged from the directory; a
    scrape also refreshes this process's memory gauge and folds in its
    waiting queries first.
    """
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector

    exporter = install()
    if exporter is not None:
        exporter.refresh_memory(force=True)
        collector = exporter.collector
        if collector is not None:
            # Queries waiting in this process's thread logs (run outside a
            # request: a task, a command) counted before the scrape reads.
            collector.fold_queries()
    encoder, content_type = choose_encoder(accept or "")
    path = multiprocess_dir()
    if path is None:
        return encoder(REGISTRY), content_type
    # A fresh registry per scrape, as prometheus_client requires: the
    # collector reads the files as they are now.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return encoder(registry), content_type
