"""Serve this process's report to staff: an HTML page and its JSON."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import monitoring
from .report.html import render_html


def can_view_report(request: HttpRequest) -> bool:
    """Return whether ``request`` may see the report.

    Staff users always may; anyone else only while ``DEBUG`` is on and the
    request comes from an address in ``INTERNAL_IPS``, as for other debugging
    tools.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    internal = request.META.get("REMOTE_ADDR") in getattr(settings, "INTERNAL_IPS", ())
    return bool(settings.DEBUG and internal)


def _check(request: HttpRequest) -> None:
    # A 404 rather than a 403 does not tell strangers the page exists.
    if not can_view_report(request):
        raise Http404("No report here.")


@never_cache
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    """Return the current report as a self-contained HTML page."""
    _check(request)
    report = monitoring.monitor.generate_report(title="perfprobe live report")
    return HttpResponse(render_html(report), content_type="text/html; charset=utf-8")


@never_cache
@require_GET
def report_json(request: HttpRequest) -> JsonResponse:
    """Return the current report as JSON, in the shipped schema's format."""
    _check(request)
    report = monitoring.monitor.generate_report(title="perfprobe live report")
    return JsonResponse(report.to_dict(), json_dumps_params={"allow_nan": False})
