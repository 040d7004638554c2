"""Serve the demo with gunicorn: ``gunicorn -c demo_site/gunicorn_conf.py``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory, emptied again
before every start), each worker writes its metrics there and ``/metrics``
adds them up; the ``child_exit`` hook drops a dead worker's live gauges.
"""

from __future__ import annotations

import os
from typing import Any

wsgi_app = "demo_site.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def _workers() -> int:
    """Return GUNICORN_WORKERS (2 when unset or empty); exit with one line if bad."""
    given = os.environ.get("GUNICORN_WORKERS", "") or "2"
    try:
        count = int(given)
    except ValueError:
        count = 0
    if count < 1:
        # SystemExit, not an exception: gunicorn prints an exception from its
        # configuration with a traceback, but lets this one end the start.
        expected = "expected a whole number of workers, 1 or more."
        raise SystemExit(f"GUNICORN_WORKERS={given!r}: {expected}")
    return count


workers = _workers()
worker_class = "sync"
# The control socket defaults to one path in $HOME, shared by every gunicorn
# of the user; the demo has no use for it.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Log that a worker has loaded the application and can serve."""
    worker.log.info("perfprobe demo worker %s ready", worker.pid)


def child_exit(server: Any, worker: Any) -> None:
    """Remove the dead worker's live gauges from the metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
