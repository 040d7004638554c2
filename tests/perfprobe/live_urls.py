"""Serve the demo project plus one route whose pattern carries markup.

Used through ``override_settings(ROOT_URLCONF=...)`` by the live report's
tests. It defines no ``handler404``, so refusals get Django's own 404 page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from demo_site import urls as demo_urls
from perfprobe import monitor

from . import hostile

#: The route the middleware records: the pattern, markup and all.
HOSTILE_ROUTE = "/evil/<script>window.__pwned=1</script>/"
#: A path that the pattern matches, percent-encoded as a client sends it.
HOSTILE_PATH = "/evil/%3Cscript%3Ewindow.__pwned=1%3C/script%3E/"


def plant_view(request: HttpRequest) -> HttpResponse:
    """Record every hostile value from inside a request, then answer 200."""
    hostile.plant(monitor)
    return HttpResponse("planted", content_type="text/plain")


urlpatterns = [
    re_path(r"^" + HOSTILE_ROUTE.lstrip("/") + r"$", plant_view),
    *demo_urls.urlpatterns,
]
