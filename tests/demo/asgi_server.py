"""Serve an ASGI application with uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class UvicornThread:
    """Run ``uvicorn.Server`` on its own event loop in a daemon thread.

    The socket is bound here, to port 0, so the port is free and known before
    the server starts. Use it as a context manager: leaving the block asks
    the server to exit, waits for the thread and closes the socket, also when
    the server failed to start.
    """

    def __init__(self, app: Any) -> None:
        # log_config=None: uvicorn must not reconfigure the process's logging,
        # which pytest's caplog and Django's LOGGING own.
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.thread = threading.Thread(
            target=self._run, name="uvicorn-test-server", daemon=True
        )
        self.error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` of the bound socket."""
        return f"http://{HOST}:{self.socket.getsockname()[1]}"

    @property
    def thread_id(self) -> int | None:
        """Return the identifier of the thread that runs the event loop."""
        return self.thread.ident

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as exc:
            self.error = exc

    def start(self) -> None:
        """Bind, start serving and wait until the server accepts connections."""
        self.socket.bind((HOST, 0))
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask the server to exit, wait for its thread and close the socket."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=STOP_TIMEOUT_S)
        self.socket.close()
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop in time")

    def __enter__(self) -> UvicornThread:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
