"""Serve the demo project as it would be without perfprobe's pages.

A refused request to a perfprobe page must be indistinguishable from a
request to this site, byte for byte.
"""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("api/", include("apps.shop.urls"))]

handler404 = "apps.shop.api.not_found"
handler500 = "apps.shop.api.server_error"
