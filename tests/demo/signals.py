"""Send this test process a real Ctrl-C at a chosen moment."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def sigint_after(delay_s: float) -> Iterator[None]:
    """Send this process a real SIGINT (Ctrl-C) ``delay_s`` into the block."""
    timer = threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
