"""Serve ``/metrics`` to Prometheus: bearer token, staff, or local DEBUG."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ..access import hidden_page
from ..conf import PerfprobeSettings
from ..failures import log_failure
from . import runtime

logger = logging.getLogger("perfprobe.prometheus")


def _metrics_token(conf: PerfprobeSettings) -> str | None:
    return conf.METRICS_TOKEN


def _prometheus_on(conf: PerfprobeSettings) -> bool:
    return conf.PROMETHEUS


@hidden_page(
    _metrics_token,
    logger,
    shown=_prometheus_on,
    off_reason=(
        "PERFPROBE['PROMETHEUS'] is off (its default), so /metrics answers a 404 "
        "to everyone. Set it to True to serve the metrics (with "
        "pip install 'django-perfprobe[prometheus]')."
    ),
)
def metrics_view(request: HttpRequest) -> HttpResponseBase:
    """Return every metric in the exposition format the scraper asks for.

    Mount it yourself, e.g. ``path("metrics", metrics_view)``. It answers,
    for every method, the site's 404 for an unknown URL while
    ``PERFPROBE["PROMETHEUS"]`` is off, and to anyone who neither sends
    ``PERFPROBE["METRICS_TOKEN"]`` as ``Authorization: Bearer`` nor is staff
    (or, with ``DEBUG`` on, comes from ``INTERNAL_IPS``); allowed callers
    get GET and HEAD, 405 otherwise, never cached (see ``hidden_page``). A
    failure to render is logged once and answered with a 500, never raised.
    """
    try:
        body, content_type = runtime.render(request.headers.get("Accept"))
    except Exception:
        log_failure(
            logger, "render", "perfprobe could not render its Prometheus metrics"
        )
        return HttpResponse(
            "perfprobe could not render its metrics; see the perfprobe.prometheus "
            "log.\n",
            status=500,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=content_type)
