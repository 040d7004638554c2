"""Serve this process's report to staff: an HTML page and its JSON."""

from __future__ import annotations

import logging

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseServerError,
    JsonResponse,
)
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import monitoring
from .access import has_token, is_staff_or_debug, require_access, unmonitored
from .conf import get_settings
from .failures import log_failure
from .report import Report
from .report.html import render_html

logger = logging.getLogger("perfprobe.report")


def can_view_report(request: HttpRequest) -> bool:
    """Return whether ``request`` may see the report.

    Staff users always may; so may a request carrying
    ``PERFPROBE["REPORT_TOKEN"]`` as its bearer token, and, while ``DEBUG``
    is on, one from an address in ``INTERNAL_IPS``.
    """
    return has_token(request, get_settings().REPORT_TOKEN) or is_staff_or_debug(request)


def _check(request: HttpRequest) -> None:
    require_access(request, get_settings().REPORT_TOKEN)


def _live_report() -> Report:
    return monitoring.monitor.generate_report(title="perfprobe live report")


def _failed() -> HttpResponse:
    # Called in an except block: a bug in the report is perfprobe's, logged
    # once, and answered with a plain 500 rather than Django's error page.
    log_failure(logger, "report-view", "perfprobe failed to build the live report")
    return HttpResponseServerError(
        "perfprobe could not build the report; see the perfprobe.report log.",
        content_type="text/plain; charset=utf-8",
    )


@unmonitored
@never_cache
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    """Return the current report as a self-contained HTML page."""
    _check(request)
    try:
        page = render_html(_live_report())
    except Exception:
        return _failed()
    return HttpResponse(page, content_type="text/html; charset=utf-8")


@unmonitored
@never_cache
@require_GET
def report_json(request: HttpRequest) -> HttpResponseBase:
    """Return the current report as JSON, in the shipped schema's format."""
    _check(request)
    try:
        data = _live_report().to_dict()
    except Exception:
        return _failed()
    return JsonResponse(data, json_dumps_params={"allow_nan": False})
