"""Serve this process's report to staff: an HTML page and its JSON."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseServerError,
    JsonResponse,
)

from . import monitoring
from .access import has_token, hidden_page, is_staff_or_debug
from .conf import PerfprobeSettings, get_settings
from .failures import log_failure
from .report.html import CONTENT_SECURITY_POLICY, render_html
from .report.model import Report

#: The title both views give the report; ``{pid}`` is the serving process.
LIVE_TITLE = "perfprobe live report, process {pid}"

# As the page's own policy, and no framing: a header can say that, a meta
# element cannot.
PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"

logger = logging.getLogger("perfprobe.report")


def can_view_report(request: HttpRequest) -> bool:
    """Return whether ``request`` may see the report.

    Staff users always may; so may a request carrying
    ``PERFPROBE["REPORT_TOKEN"]`` as its bearer token, and, while ``DEBUG``
    is on, one from an address in ``INTERNAL_IPS``. Raise
    ``ImproperlyConfigured`` if ``PERFPROBE`` is invalid.
    """
    return has_token(request, get_settings().REPORT_TOKEN) or is_staff_or_debug(request)


def _report_token(conf: PerfprobeSettings) -> str | None:
    return conf.REPORT_TOKEN


def _serve(render: Callable[[], HttpResponse]) -> HttpResponseBase:
    try:
        return render()
    except Exception:
        # A bug in the report is perfprobe's: logged once, and answered with
        # a plain 500 rather than Django's error page.
        log_failure(logger, "report-view", "perfprobe failed to build the live report")
        return HttpResponseServerError(
            "perfprobe could not build the report; see the perfprobe.report log.",
            content_type="text/plain; charset=utf-8",
        )


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


@hidden_page(_report_token, logger)
def report_page(request: HttpRequest) -> HttpResponseBase:
    """Return the current report as a self-contained HTML page.

    Raise ``Http404`` for a caller who may not see it (see ``hidden_page``);
    answer 405 to an allowed caller using a method other than GET or HEAD.
    """
    return _serve(_page)


@hidden_page(_report_token, logger)
def report_json(request: HttpRequest) -> HttpResponseBase:
    """Return the current report as JSON, in the shipped schema's format.

    Refuse callers and methods as ``report_page`` does.
    """
    return _serve(_json)
