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


#: The most workers the demo starts: each one is a Django process with its
#: own database connection, so a count far beyond the machine's cores is a
#: typo (``3_0``, ``3000``) rather than a plan.
MAX_WORKERS = 128


def _workers() -> int:
    """Return GUNICORN_WORKERS (2 when unset or empty); exit with one line if bad."""
    given = os.environ.get("GUNICORN_WORKERS", "").strip() or "2"
    # A few ASCII digits only: int() would also take "3_0" (30), "+3" and
    # digits of other scripts, and refuses past 4,300 digits with its own error.
    digits = given.isascii() and given.isdigit() and len(given) <= 9
    count = int(given) if digits else 0
    if not 1 <= count <= MAX_WORKERS:
        # SystemExit, not an exception: gunicorn prints an exception from its
        # configuration with a traceback, but lets this one end the start.
        shown = given if len(given) <= 20 else given[:20] + "..."
        expected = f"expected a whole number of workers from 1 to {MAX_WORKERS}."
        raise SystemExit(f"GUNICORN_WORKERS={shown!r}: {expected}")
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
