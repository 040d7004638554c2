"""Test that an N+1 inside a template is reported as one, with template advice.

The views of ``template_urls`` load ``Order.customer`` once per order inside
``{% for %}`` in a template, or in a loop in the view; the lines are found by
the markers written next to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from pytest_django import Settings

from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.report import Recommendation

from . import template_urls

pytestmark = pytest.mark.django_db

_SOURCE = Path(template_urls.__file__)


def _line(marker: str) -> str:
    """Return ``path:line`` of the line of template_urls marked ``marker``."""
    lines = _SOURCE.read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(marker)]
    return f"tests/perfprobe/template_urls.py:{number}"


@pytest.fixture
def orders_site(settings: Settings) -> Iterator[None]:
    """Serve template_urls with its in-memory template and the sample shop."""
    settings.ROOT_URLCONF = "tests.perfprobe.template_urls"
    settings.TEMPLATES = template_urls.TEMPLATES_SETTING
    ensure_sample_data()
    yield


def _n_plus_one(monitor: PerformanceMonitor, url: str) -> Recommendation:
    monitor.reset()
    response = Client().get(url)
    assert response.status_code == 200
    recommendations = monitor.generate_report().recommendations
    (rec,) = [r for r in recommendations if r.rule_id == "n-plus-one"]
    assert rec.evidence["count"] == template_urls.ORDERS
    return rec


@pytest.mark.parametrize(
    ("url", "marker", "call"),
    [
        ("/orders/template/", "# RENDER_LINE", "render"),
        ("/orders/string/", "# STRING_LINE", "render_to_string"),
    ],
)
def test_a_loop_in_a_template_is_reported_in_the_template(
    orders_site: None,
    fresh_monitor: PerformanceMonitor,
    url: str,
    marker: str,
    call: str,
) -> None:
    """The finding names the template rendered at the view's line, and its fix."""
    site = _line(marker)

    rec = _n_plus_one(fresh_monitor, url)

    assert rec.title.startswith(
        f"N+1 queries in the template rendered at {site}: Order.customer loaded "
        "one row at a time, 6 queries"
    )
    assert rec.evidence["in_template_rendered_by"] == call
    assert rec.suggestion == (
        f"The template rendered at {site} reads Order.customer once per Order "
        "row, inside a {% for %} loop (look for .customer there): add "
        'select_related("customer") to the Order queryset the view passes to '
        "the template, so that Order.customer comes with its rows instead of "
        "once per row."
    )


def test_a_loop_in_the_view_is_not_reported_in_a_template(
    orders_site: None, fresh_monitor: PerformanceMonitor
) -> None:
    """The same N+1 written as a loop in the view keeps the view's advice."""
    site = _line("# VIEW_LINE")

    rec = _n_plus_one(fresh_monitor, "/orders/view/")

    assert rec.title.startswith(f"N+1 queries at {site}: Order.customer")
    assert "in_template_rendered_by" not in rec.evidence
    assert "template rendered" not in rec.suggestion
    assert 'Add select_related("customer") to the Order queryset' in rec.suggestion
