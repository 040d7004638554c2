"""Serve this process's report to staff: an HTML page and its JSON."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import monitoring
from .access import has_token, is_staff_or_debug, require_access, unmonitored
from .conf import get_settings
from .report.html import render_html


def can_view_report(request: HttpRequest) -> bool:
    """Return whether ``request`` may see the report.

    Staff users always may; so may a request carrying
    ``PERFPROBE["REPORT_TOKEN"]`` as its bearer token, and, while ``DEBUG``
    is on, one from an address in ``INTERNAL_IPS``.
    """
    return has_token(request, get_settings().REPORT_TOKEN) or is_staff_or_debug(request)


def _check(request: HttpRequest) -> None:
    require_access(request, get_settings().REPORT_TOKEN)


@unmonitored
@never_cache
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    """Return the current report as a self-contained HTML page."""
    _check(request)
    report = monitoring.monitor.generate_report(title="perfprobe live report")
    return HttpResponse(render_html(report), content_type="text/html; charset=utf-8")


@unmonitored
@never_cache
@require_GET
def report_json(request: HttpRequest) -> JsonResponse:
    """Return the current report as JSON, in the shipped schema's format."""
    _check(request)
    report = monitoring.monitor.generate_report(title="perfprobe live report")
    return JsonResponse(report.to_dict(), json_dumps_params={"allow_nan": False})
