"""Test finding an endpoint's view in the URLconf (``perfprobe.report.viewsite``)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import include, path, re_path
from pytest_django import Settings

from perfprobe import PerformanceMonitor
from perfprobe.report.viewsite import view_of_endpoint

from . import cbv_urls, template_urls

urlpatterns = [
    path("shop/<int:pk>/", include(cbv_urls.urlpatterns)),
    re_path(r"^legacy/", include([re_path(r"^orders/$", cbv_urls.order_response)])),
]


@pytest.mark.django_db
def test_views_are_found_by_the_names_requests_were_given(
    settings: Settings, fresh_monitor: PerformanceMonitor
) -> None:
    """Included and regex routes: the scope's endpoint name leads to the view."""
    settings.ROOT_URLCONF = __name__
    settings.TEMPLATES = template_urls.TEMPLATES_SETTING
    for url in ("/shop/3/orders/cbv/", "/legacy/orders/"):
        assert Client().get(url).status_code == 200
    endpoints = fresh_monitor.generate_report().endpoints
    # A request's scope is named "METHOD /route/", as the endpoint is keyed.
    names = sorted(f"{e['method']} {e['route']}" for e in endpoints)

    assert names == ["GET /legacy/orders/", "GET /shop/<int:pk>/orders/cbv/"]
    legacy, listed = (view_of_endpoint(name) for name in names)
    assert listed is not None and listed.class_based and listed.template_response
    assert listed.name == "tests.perfprobe.cbv_urls.OrderListView"
    assert legacy is not None and legacy.template_response
    assert legacy.name == "tests.perfprobe.cbv_urls.order_response"
    assert legacy.rows_from is not None
    assert legacy.rows_from.startswith("passed to the TemplateResponse at ")
    assert view_of_endpoint("GET /shop/orders/cbv/") is None
    assert view_of_endpoint("nightly-import") is None
