"""Decide whether to emit OpenTelemetry spans, and give the probes their hooks.

Spans are made only when ``PERFPROBE["ENABLED"]`` and
``PERFPROBE["OPENTELEMETRY"]`` are on, the ``opentelemetry`` package can be
found, and a real tracer provider is in place: the global one set by the
application, or one given to :func:`use_tracer_provider`. Nothing imports
``opentelemetry`` until the first two conditions hold, so without the
``otel`` extra the probes pay one module-level flag check and no more.

The global provider can be set once per process, possibly after Django has
started (a gunicorn ``post_fork`` hook, say); until it is, the check is
repeated at most once every ``RECHECK_S`` seconds, because asking the API
costs an environment lookup (about a microsecond) on every call.

Every hook here logs its own failures to ``perfprobe.tracing``, once per
kind of failure (later ones at DEBUG, see :mod:`perfprobe.failures`), and
never raises into the caller.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed

from ..conf import SETTINGS_NAME, get_settings
from ..failures import log_failure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.http import HttpRequest
    from opentelemetry.trace import Tracer, TracerProvider

    from ..events import QueryEvent
    from .spans import BlockSpan, RequestSpan

logger = logging.getLogger("perfprobe.tracing")

#: Seconds between two looks for a tracer provider while none is set.
RECHECK_S = 1.0

#: False once tracing is known to be impossible; the probes test it first.
active = True

#: ``time.perf_counter_ns()`` before which ``get_tracer`` is known to return
#: ``None`` (no provider yet); 0 when it may return a tracer. The request
#: middleware compares the request's own start with it and so spends no
#: call on tracing while none is possible.
no_tracer_until_ns = 0

_lock = threading.Lock()
_tracer: Tracer | None = None
_decided_off = False
_provider_override: TracerProvider | None = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Make spans with ``provider`` instead of the global one; ``None`` undoes it.

    Tests use it to capture spans in memory without setting the global
    provider, which can be set only once per process.
    """
    global _provider_override
    _provider_override = provider
    reset()


def reset() -> None:
    """Forget the decision, so the next probe makes it again."""
    global active, _tracer, _decided_off, no_tracer_until_ns
    with _lock:
        _tracer = None
        _decided_off = False
        no_tracer_until_ns = 0
        active = True


def get_tracer() -> Tracer | None:
    """Return perfprobe's tracer when spans are to be made now, else ``None``."""
    tracer = _tracer
    if tracer is not None or _decided_off:
        return tracer
    if time.perf_counter_ns() < no_tracer_until_ns:
        return None
    try:
        return _decide()
    except Exception:
        log_failure(
            logger, "setup", "perfprobe could not set up OpenTelemetry; no spans"
        )
        _turn_off()
        return None


def _turn_off() -> None:
    global active, _decided_off
    _decided_off = True
    active = False


def _decide() -> Tracer | None:
    global _tracer, no_tracer_until_ns
    conf = get_settings()
    if not (conf.ENABLED and conf.OPENTELEMETRY):
        _turn_off()
        return None
    # Once imported (by the application or a look before this one) it is
    # installed: find_spec walks sys.path, which a look once a second while
    # no provider is set should not repeat. A None entry is an import
    # blocked on purpose: find_spec reads it as not installed.
    if sys.modules.get("opentelemetry") is None and not _otel_installed():
        _turn_off()
        return None

    from opentelemetry import trace

    provider = _provider_override or trace.get_tracer_provider()
    if isinstance(provider, trace.NoOpTracerProvider):
        # Set on purpose, and the global provider cannot be set again.
        logger.debug("perfprobe found a no-op tracer provider; no spans")
        if _provider_override is None:
            _turn_off()
        return None
    if isinstance(provider, trace.ProxyTracerProvider):
        no_tracer_until_ns = time.perf_counter_ns() + int(RECHECK_S * 1e9)
        return None

    from .. import __version__

    with _lock:
        if _tracer is None:
            _tracer = provider.get_tracer("perfprobe", __version__)
            logger.debug("perfprobe emits spans through %r", provider)
        return _tracer


def _otel_installed() -> bool:
    # find_spec on the top-level name imports nothing; a submodule's name
    # would import the package itself.
    try:
        found = importlib.util.find_spec("opentelemetry") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        logger.debug("perfprobe found no opentelemetry package; no spans")
    return found


# -- hooks the probes call when ``active`` is true ------------------------------


def start_block(name: str, tags: Mapping[str, str]) -> BlockSpan | None:
    """Start a span for a monitored block and make it current; ``None`` if off."""
    tracer = get_tracer()
    if tracer is None:
        return None
    try:
        from .spans import BlockSpan

        return BlockSpan.start(tracer, name, tags)
    except Exception:
        log_failure(
            logger, "start-block", "perfprobe failed to start a span for %r", name
        )
        return None


def end_block(block: BlockSpan, exc: BaseException | None) -> None:
    """End a block's span, marking it failed when ``exc`` is given."""
    try:
        block.end(exc)
    except Exception:
        log_failure(logger, "end-block", "perfprobe failed to end a span")


def record_query(event: QueryEvent, connection: BaseDatabaseWrapper) -> None:
    """Emit a finished query as a span under the current one."""
    tracer = get_tracer()
    if tracer is None:
        return
    try:
        from .spans import record_query_span

        record_query_span(tracer, event, connection)
    except Exception:
        log_failure(logger, "query-span", "perfprobe failed to emit a span for a query")


class _NoRequestSpan:
    """Stand in for a request span when tracing is off; every method does nothing."""

    def __enter__(self) -> _NoRequestSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def finish(self, response: Any) -> None:
        """Do nothing."""


_NO_REQUEST_SPAN = _NoRequestSpan()


def request_span(request: HttpRequest) -> RequestSpan | _NoRequestSpan:
    """Return a context manager that wraps the request in a SERVER span.

    A request to a fixed path of an unmonitored view gets one that does
    nothing. Call ``finish(response)`` on what it yields once the response is back.
    """
    if not active:
        return _NO_REQUEST_SPAN
    tracer = get_tracer()
    if tracer is None:
        return _NO_REQUEST_SPAN
    try:
        from .spans import RequestSpan
        from .unmonitored import is_unmonitored_path

        # perfprobe's own pages and other unmonitored views at a fixed path
        # make no span; others are dropped when they end (see RequestSpan).
        # The paths are those of ROOT_URLCONF: a request given a URLconf of
        # its own by an earlier middleware may be served by another view.
        if getattr(request, "urlconf", None) is None and is_unmonitored_path(
            request.path_info
        ):
            return _NO_REQUEST_SPAN
        return RequestSpan(tracer, request)
    except Exception:
        log_failure(
            logger, "prepare-request", "perfprobe failed to prepare a request span"
        )
        return _NO_REQUEST_SPAN


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="perfprobe.tracing")
