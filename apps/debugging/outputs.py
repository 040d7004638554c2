"""Keep a fault inside perfprobe's renderers from crashing the demo command."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.core.management.base import CommandError

from perfprobe.failures import log_failure

logger = logging.getLogger("perfprobe.report")


@contextlib.contextmanager
def building_the_report() -> Iterator[None]:
    """Turn a failure inside perfprobe while building the report into one line.

    Scenario failures never get here (the demo records them); what does is
    a fault in the monitor or the report builder. It is logged once through
    ``perfprobe.report``, with its traceback, and the command ends with a
    ``CommandError`` instead of a traceback of its own.
    """
    try:
        yield
    except CommandError:
        raise
    except Exception as exc:
        log_failure(logger, "demo-report", "perfprobe failed to build the report")
        raise CommandError(
            f"perfprobe failed to build the report ({type(exc).__name__}: {exc}); "
            "details in the perfprobe.report log."
        ) from None


class OutputSteps:
    """Run each of the command's outputs on its own; record which ones failed.

    A bug in one renderer (terminal, JSON, HTML) must not cost the others:
    its exception is logged once through ``perfprobe.report`` and the next
    output is still written. ``CommandError`` (a file that cannot be
    written, already worded for the user) passes through unchanged.
    """

    def __init__(self) -> None:
        self.failed: list[str] = []

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run the block that produces ``what``; log and note its failure."""
        try:
            yield
        except CommandError:
            raise
        except Exception:
            # The kind is fixed per output, so one broken renderer is one
            # logged traceback however often the command runs it.
            log_failure(
                logger, f"demo-output {what}", "perfprobe failed to write %s", what
            )
            self.failed.append(what)

    def check(self) -> None:
        """Raise ``CommandError`` naming every output that failed, if any."""
        if self.failed:
            raise CommandError(
                f"perfprobe failed to write {', '.join(self.failed)}; the other "
                "outputs were written (details in the perfprobe.report log)."
            )
