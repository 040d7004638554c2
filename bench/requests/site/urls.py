"""Route the three views, plus the UIs of the tools that need their own."""

from __future__ import annotations

from django.apps import apps
from django.urls import URLPattern, URLResolver, include, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("json/", views.no_query, name="no-query"),
    path("list/", views.joined_list, name="joined-list"),
    path("lazy/", views.lazy_list, name="lazy-list"),
]

# Both tools reverse their own URL names while recording a request.
if apps.is_installed("silk"):
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))
if apps.is_installed("debug_toolbar"):
    urlpatterns.append(path("__debug__/", include("debug_toolbar.urls")))
