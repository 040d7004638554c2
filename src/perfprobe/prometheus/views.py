"""Serve ``/metrics`` to Prometheus: bearer token, staff, or local DEBUG."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..access import require_access, unmonitored
from ..conf import get_settings
from . import runtime

logger = logging.getLogger("perfprobe.prometheus")


@unmonitored
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Return every metric in the exposition format the scraper asks for.

    Mount it yourself, e.g. ``path("metrics", metrics_view)``. It answers 404
    while ``PERFPROBE["PROMETHEUS"]`` is off, and to anyone who neither
    sends ``PERFPROBE["METRICS_TOKEN"]`` as ``Authorization: Bearer`` nor is
    staff (or, with ``DEBUG`` on, comes from ``INTERNAL_IPS``). A failure to
    render is logged and answered with a 500, never raised.
    """
    conf = get_settings()
    if not conf.PROMETHEUS:
        raise Http404("No page here.")
    require_access(request, conf.METRICS_TOKEN)
    try:
        body, content_type = runtime.render(request.headers.get("Accept"))
    except Exception:
        logger.exception("perfprobe could not render its Prometheus metrics")
        return HttpResponse(
            "perfprobe could not render its metrics; see the server log.\n",
            status=500,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=content_type)
