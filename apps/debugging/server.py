"""Serve the demo project over HTTP on a free loopback port, in a thread."""

from __future__ import annotations

import contextvars
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.urls import get_resolver

from apps.shop.latency import resume_sleeps, stop_sleeps

logger = logging.getLogger("apps.debugging.server")

# How long stopping the server waits for requests still being served.
STOP_WAIT_S = 5.0


class _QuietHandler(WSGIRequestHandler):
    """Keep the access log out of the demo's terminal output."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class _ContextServer(ThreadedWSGIServer):
    """Run each request thread in a copy of the context the server started in.

    Threads do not inherit ``contextvars``; copying the starter's context is
    what puts every request's own scope inside the demo scenario's scope.
    """

    # socketserver listens with a backlog of 5: past that, the kernel drops
    # new connections and the client retries a second later, which showed up
    # as 1 s outliers in the load test's client-side p99 from 16 clients.
    request_queue_size = 128

    def __init__(self, *args: Any, context: contextvars.Context, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._context = context
        # Request threads are daemons (a hung one never holds up the exit),
        # so socketserver does not track them; stopping waits for these.
        self.request_threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        thread = threading.current_thread()
        with self._threads_lock:
            self.request_threads.add(thread)
        try:
            self._context.copy().run(
                super().process_request_thread, request, client_address
            )
        finally:
            with self._threads_lock:
                self.request_threads.discard(thread)


class LoopbackServer:
    """Start the project's WSGI application on ``127.0.0.1`` and a free port.

    Use it as a context manager; the server and its thread are stopped on
    exit, and ``base_url`` names the address while it runs.
    """

    host = "127.0.0.1"

    def __init__(self) -> None:
        self._server: _ContextServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the loopback server is not running")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Bind to a free port and serve in a daemon thread."""
        # Port 0 lets the kernel pick a free port atomically.
        server = _ContextServer(
            (self.host, 0),
            _QuietHandler,
            context=contextvars.copy_context(),
            allow_reuse_address=False,
        )
        server.address_family = socket.AF_INET
        server.set_app(WSGIHandler())
        # Import the URLconf now, as runserver's system checks do before it
        # serves: otherwise the first request measured (the products list)
        # carries some 40 ms of module imports that are not the endpoint's.
        try:
            get_resolver().url_patterns  # noqa: B018 - the import is the point
        except Exception:
            # A broken URLconf is reported by the requests that need it.
            logger.debug("the URLconf could not be loaded up front", exc_info=True)
        # shutdown() waits for the serving loop to wake up and look, which
        # takes up to one poll interval: 5 ms keeps stopping cheap next to
        # the demo's latencies while the idle wake-ups cost next to nothing.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.005},
            name="perfprobe-demo-server",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self, interrupted: bool = False) -> None:
        """Stop serving, close the socket and wait for the threads.

        ``interrupted`` (Ctrl-C) first cuts short the injected database
        sleeps of requests still being served, so they end at once.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_S)
        self._thread = None
        if server is None:
            return
        with server._threads_lock:
            busy = list(server.request_threads)
        if interrupted and busy:
            stop_sleeps()
        deadline = time.monotonic() + STOP_WAIT_S
        try:
            for thread in busy:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            if interrupted and busy:
                resume_sleeps()

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(interrupted=exc is not None)
