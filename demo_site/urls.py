"""Route the demo project's URLs: the shop's JSON API lives under ``api/``."""

from __future__ import annotations

from django.urls import include, path

from perfprobe.prometheus import metrics_view
from perfprobe.views import report_page

urlpatterns = [
    path("api/", include("apps.shop.urls")),
    # The live report, to the bearer of PERFPROBE_REPORT_TOKEN or (with
    # DJANGO_DEBUG=1) from INTERNAL_IPS; the demo has no staff logins.
    path("perfprobe/", include("perfprobe.urls")),
    # The same page without the slash, so that APPEND_SLASH has no redirect
    # to give a stranger: the refusal is then the unknown URL's 404.
    path("perfprobe", report_page),
    # Prometheus' scrape target; a 404 unless PERFPROBE_PROMETHEUS=1.
    path("metrics", metrics_view, name="metrics"),
]

# JSON error pages, so API clients never receive Django's HTML fallbacks.
handler404 = "apps.shop.api.not_found"
handler500 = "apps.shop.api.server_error"
