"""Serve this process's report to staff: an HTML page and its JSON."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseServerError,
    JsonResponse,
)
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from . import monitoring
from .access import has_token, is_staff_or_debug, require_access, unmonitored
from .conf import get_settings
from .failures import log_failure
from .report.html import CONTENT_SECURITY_POLICY, render_html
from .report.model import Report

#: The title both views give the report; ``{pid}`` is the serving process.
LIVE_TITLE = "perfprobe live report, process {pid}"
ALLOWED_METHODS = ("GET", "HEAD")

# As the page's own policy, and no framing: a header can say that, a meta
# element cannot.
PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"

logger = logging.getLogger("perfprobe.report")


def can_view_report(request: HttpRequest) -> bool:
    """Return whether ``request`` may see the report.

    Staff users always may; so may a request carrying
    ``PERFPROBE["REPORT_TOKEN"]`` as its bearer token, and, while ``DEBUG``
    is on, one from an address in ``INTERNAL_IPS``.
    """
    return has_token(request, get_settings().REPORT_TOKEN) or is_staff_or_debug(request)


def _private(response: HttpResponseBase) -> HttpResponseBase:
    # The report is per caller and changes with every request: no cache of
    # any kind may keep it or hand it to someone else.
    add_never_cache_headers(response)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _serve(
    request: HttpRequest, render: Callable[[], HttpResponse]
) -> HttpResponseBase:
    # Access is decided before the method, so a POST from a stranger gets the
    # same 404 as a GET, not a 405 that would betray the page.
    require_access(request, get_settings().REPORT_TOKEN)
    if request.method not in ALLOWED_METHODS:
        return _private(HttpResponseNotAllowed(ALLOWED_METHODS))
    try:
        response = render()
    except Exception:
        # A bug in the report is perfprobe's: logged once, and answered with
        # a plain 500 rather than Django's error page.
        log_failure(logger, "report-view", "perfprobe failed to build the live report")
        response = HttpResponseServerError(
            "perfprobe could not build the report; see the perfprobe.report log.",
            content_type="text/plain; charset=utf-8",
        )
    return _private(response)


def _live_report() -> Report:
    # Each worker process keeps its own figures; the process id in the title
    # tells a reader which one served the page.
    return monitoring.monitor.generate_report(title=LIVE_TITLE.format(pid=os.getpid()))


def _page() -> HttpResponse:
    report = _live_report()
    # backslashreplace: a name holding a lone surrogate (a file name decoded
    # with surrogateescape) must not turn the whole page into a 500.
    body = render_html(report).encode("utf-8", errors="backslashreplace")
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PAGE_POLICY
    return response


def _json() -> HttpResponse:
    report = _live_report()
    return JsonResponse(report.to_dict(), json_dumps_params={"allow_nan": False})


# csrf_exempt: both views only read. Without it CsrfViewMiddleware would
# answer a stranger's POST with a 403 before the access check could say 404.
@unmonitored
@csrf_exempt
def report_page(request: HttpRequest) -> HttpResponseBase:
    """Return the current report as a self-contained HTML page.

    Raise ``Http404`` for a caller who may not see it (see ``require_access``);
    answer 405 to an allowed caller using a method other than GET or HEAD.
    """
    return _serve(request, _page)


@unmonitored
@csrf_exempt
def report_json(request: HttpRequest) -> HttpResponseBase:
    """Return the current report as JSON, in the shipped schema's format.

    Refuse callers and methods as ``report_page`` does.
    """
    return _serve(request, _json)
