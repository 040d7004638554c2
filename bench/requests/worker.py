"""Serve one configuration in its own process, timing batches on request.

``python -m bench.requests.worker CONFIG DB_PATH``, started by the
coordinator. It reads one JSON command per line on stdin and answers one
JSON line on the original stdout (everything else printed goes to stderr):

- ``{"cmd": "run", "view": "/lazy/", "n": 40}`` -> ``{"ns": ...}``
- ``{"cmd": "gc", "view": "/lazy/", "n": 1500, "warmup": 375, "budget_ns": ...}``
  -> ``{"requests": ..., "warmup": ..., "counts": [g0, g1, g2], "ns": [...]}``:
  the cyclic collector's passes and time per generation over up to ``n``
  requests, no collection forced (see ``Client.collector``)
- ``{"cmd": "proof"}`` -> ``{"recorded": true, "text": "..."}``
- ``{"cmd": "quit"}`` -> exits

The first line it writes is ``{"ready": true, ...}`` or ``{"error": ...}``.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from .catalog import BASELINE, VIEWS
from .tools import LOG_COUNTS, make_setup

_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "testserver",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "testserver",
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}


def environ_for(path: str) -> dict[str, Any]:
    """Return a fresh WSGI environ for ``GET path``."""
    environ = dict(_ENVIRON)
    environ["PATH_INFO"] = path
    environ["wsgi.input"] = io.BytesIO(b"")
    environ["wsgi.errors"] = sys.stderr
    return environ


class Client:
    """Call a WSGI application in-process, as a server would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = ""

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> None:
        self.status = status

    def get(self, path: str) -> tuple[str, bytes]:
        """Serve ``GET path`` and return the status line and the body."""
        body: Iterable[bytes] = self.app(environ_for(path), self._start_response)
        try:
            content = b"".join(body)
        finally:
            # close() sends request_finished, as every WSGI server does.
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return self.status, content

    def check(self, path: str) -> None:
        """Serve ``GET path``; raise ``RuntimeError`` unless it is ``200 OK``."""
        status, body = self.get(path)
        if status[:3] != "200":
            raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")

    def run(self, path: str, n: int) -> int:
        """Serve ``GET path`` ``n`` times; return the nanoseconds taken.

        Raise ``RuntimeError`` if any response is not ``200 OK``.
        """
        gc.collect()
        bad = 0
        started_ns = time.perf_counter_ns()
        for _ in range(n):
            status, _body = self.get(path)
            if status[:3] != "200":
                bad += 1
        elapsed_ns = time.perf_counter_ns() - started_ns
        if bad:
            raise RuntimeError(f"{bad} of {n} responses to {path} were {status}")
        return elapsed_ns


class CollectorClock:
    """Count and time the cyclic collector's passes, per generation.

    A ``gc.callbacks`` entry: the collector calls it with ``"start"`` and
    ``"stop"`` around every collection, automatic or forced.
    """

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.ns = [0, 0, 0]
        self._started_ns = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns()
        else:
            generation = info["generation"]
            self.counts[generation] += 1
            self.ns[generation] += time.perf_counter_ns() - self._started_ns


def collector_time(
    client: Client, path: str, n: int, warmup: int, budget_ns: int
) -> dict[str, Any]:
    """Serve ``path`` with no forced collection; time the collector's passes.

    First ``warmup`` requests untimed (or as many as fit in a quarter of
    ``budget_ns``), so the generations leave the state the last forced
    collection left; then up to ``n`` requests (fewer if ``budget_ns`` runs
    out) while a ``CollectorClock`` counts and times every collection.
    Return the requests served in each part and the counts and nanoseconds
    per generation. Raise ``RuntimeError`` if any response is not ``200 OK``.
    """
    started_ns = time.perf_counter_ns()
    warmed = 0
    while warmed < warmup and time.perf_counter_ns() - started_ns < budget_ns // 4:
        client.check(path)
        warmed += 1
    clock = CollectorClock()
    served = 0
    started_ns = time.perf_counter_ns()
    gc.callbacks.append(clock)
    try:
        while served < n and time.perf_counter_ns() - started_ns < budget_ns:
            client.check(path)
            served += 1
    finally:
        gc.callbacks.remove(clock)
    return {
        "requests": served,
        "warmup": warmed,
        "counts": clock.counts,
        "ns": clock.ns,
    }


def _start(name: str, db_path: Path) -> tuple[Client, dict[str, Any]]:
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    setup = make_setup(name, db_path)
    settings.configure(**setup.settings)
    for hook in setup.before_setup:
        hook()
    logging.getLogger().addHandler(LOG_COUNTS)
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)

    from .site.models import seed

    seed()
    for hook in setup.after_setup:
        hook()

    client = Client(WSGIHandler())
    info = {"django": django.get_version(), "queries": _check(client, name)}
    _proofs[name] = setup.proof
    return client, info


def _check(client: Client, name: str) -> dict[str, int]:
    """Serve each view once; in the baseline, count its queries too."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts: dict[str, int] = {}
    for view in VIEWS:
        with CaptureQueriesContext(connection) as captured:
            status, body = client.get(view.path)
        if status[:3] != "200":
            raise RuntimeError(f"{view.path} answered {status}: {body[:200]!r}")
        if name == BASELINE:
            counts[view.name] = len(captured.captured_queries)
    return counts


_proofs: dict[str, Any] = {}


def _serve(name: str, client: Client, out: TextIO) -> None:
    for line in sys.stdin:
        command = json.loads(line)
        answer: dict[str, Any]
        try:
            if command["cmd"] == "run":
                answer = {"ns": client.run(command["view"], int(command["n"]))}
            elif command["cmd"] == "gc":
                answer = collector_time(
                    client,
                    command["view"],
                    int(command["n"]),
                    int(command["warmup"]),
                    int(command["budget_ns"]),
                )
            elif command["cmd"] == "proof":
                # One N+1 request last, so every tool has one to show.
                client.run(VIEWS[-1].path, 1)
                recorded, text = _proofs[name]()
                answer = {"recorded": recorded, "text": text}
            else:
                return
        except Exception as exc:
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv: list[str]) -> int:
    """Start configuration ``argv[0]`` on database ``argv[1]`` and serve."""
    # Keep the answer channel clean: anything a tool prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        client, info = _start(argv[0], Path(argv[1]))
    except Exception as exc:
        traceback.print_exc()
        out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"ready": True, **info}) + "\n")
    out.flush()
    _serve(argv[0], client, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
