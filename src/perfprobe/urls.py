"""URLs of the live report; include them under a path of your choice."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "perfprobe"

urlpatterns = [
    path("", views.report_page, name="report"),
    path("report.json", views.report_json, name="report-json"),
]
