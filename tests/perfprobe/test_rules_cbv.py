"""Test that a TemplateResponse's N+1 is one finding, placed in its template.

The views of ``cbv_urls`` (a ``ListView`` and a function returning a
``TemplateResponse``) load ``Order.customer`` once per order inside
``{% for %}`` in a template Django renders after the view returned. Under a
server no frame of user code is then on the stack; the test's own frames
stand in for the server by being excluded from call sites.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings
from pytest_django import Settings

from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.report import Recommendation, Report
from perfprobe.testing import BudgetExceeded, assert_no_n_plus_one

from . import cbv_urls, template_urls

pytestmark = pytest.mark.django_db

_SOURCE = Path(cbv_urls.__file__)
_CUSTOMER_TABLE = 'FROM "shop_customer"'


def _line(marker: str) -> str:
    """Return ``path:line`` of the line of cbv_urls marked ``marker``."""
    lines = _SOURCE.read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(marker)]
    return f"tests/perfprobe/cbv_urls.py:{number}"


def _own_line(marker: str) -> int:
    """Return the line of this file ending with ``marker``."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(marker)]
    return number


@pytest.fixture
def orders_site(settings: Settings) -> Iterator[None]:
    """Serve cbv_urls with the in-memory template and the sample shop."""
    settings.ROOT_URLCONF = "tests.perfprobe.cbv_urls"
    settings.TEMPLATES = template_urls.TEMPLATES_SETTING
    ensure_sample_data()
    yield


def _served(monitor: PerformanceMonitor, url: str, requests: int) -> Report:
    monitor.reset()
    with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["test_rules_cbv"]}):
        for _ in range(requests):
            assert Client().get(url).status_code == 200
        return monitor.generate_report()


def _only_n_plus_one(report: Report) -> Recommendation:
    (rec,) = [r for r in report.recommendations if r.rule_id == "n-plus-one"]
    return rec


def _repeated_customers() -> int:
    """Return how many customers the page shows more than once (from the DB)."""
    shown = Counter(o.customer_id for o in cbv_urls.orders())
    return sum(1 for count in shown.values() if count >= 2)


def _customer_repeats(report: Report) -> list[dict[str, object]]:
    aggregated = report.duplicates["aggregated"]
    return [d for d in aggregated if _CUSTOMER_TABLE in d["fingerprint"]]


def test_a_list_view_n_plus_one_is_placed_in_its_template(
    orders_site: None, fresh_monitor: PerformanceMonitor
) -> None:
    """A ListView's N+1 names its template's endpoint, view and get_queryset()."""
    repeated = _repeated_customers()
    # Two or more, so that counting parameter sets as scopes shows.
    assert repeated >= 2

    report = _served(fresh_monitor, "/orders/cbv/", requests=2)

    rec = _only_n_plus_one(report)
    assert rec.title.startswith(
        "N+1 queries while the template of GET /orders/cbv/ renders (a "
        "TemplateResponse of the class-based view "
        "tests.perfprobe.cbv_urls.OrderListView, rendered after the view "
        "returned): Order.customer loaded one row at a time, 12 queries in 2 "
        "runs of GET /orders/cbv/"
    )
    assert rec.suggestion == (
        "The template of GET /orders/cbv/ (class-based view "
        "tests.perfprobe.cbv_urls.OrderListView), rendered after the view "
        "returned, reads Order.customer once per Order row, inside a {% for %} "
        'loop (look for .customer there): add select_related("customer") to the '
        "Order queryset returned by OrderListView.get_queryset() at "
        f"{_line('# GET_QUERYSET')}, so that Order.customer comes with its rows "
        "instead of once per row."
    )
    assert rec.evidence["view"] == "tests.perfprobe.cbv_urls.OrderListView"
    # The repeats of a customer are the N+1's own queries: no second finding.
    assert [r for r in report.recommendations if r.rule_id == "duplicate-queries"] == []
    (repeats,) = _customer_repeats(report)
    assert repeats["scope_count"] == 2
    assert repeats["repeated_sets"] == 2 * repeated


@pytest.mark.parametrize("shell", ["<console>", "<string>", "<stdin>"])
def test_a_request_sent_from_a_shell_is_placed_in_its_template(
    orders_site: None, fresh_monitor: PerformanceMonitor, shell: str
) -> None:
    """``Client().get(...)`` typed in ``manage.py shell`` (or its ``-c``).

    The shell's line was the call site, with no source to read: the finding
    read ``N+1 queries at <console>:1`` and its fix named the queryset "at
    <console>:1". Like a test's ``client.get`` line, it sent the request.
    """
    code = compile("status = Client().get('/orders/cbv/').status_code", shell, "exec")
    fresh_monitor.reset()
    with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["test_rules_cbv"]}):
        namespace: dict[str, object] = {"Client": Client}
        exec(code, namespace)
        assert namespace["status"] == 200
        report = fresh_monitor.generate_report()

    rec = _only_n_plus_one(report)
    assert rec.title.startswith(
        "N+1 queries while the template of GET /orders/cbv/ renders (a "
        "TemplateResponse of the class-based view "
        "tests.perfprobe.cbv_urls.OrderListView, rendered after the view "
        "returned)"
    )
    assert shell not in rec.suggestion
    assert f"OrderListView.get_queryset() at {_line('# GET_QUERYSET')}" in (
        rec.suggestion
    )


def test_a_template_response_n_plus_one_names_the_response_line(
    orders_site: None, fresh_monitor: PerformanceMonitor
) -> None:
    """A function view's TemplateResponse is named, with the line making it."""
    report = _served(fresh_monitor, "/orders/response/", requests=1)

    rec = _only_n_plus_one(report)
    assert rec.title.startswith(
        "N+1 queries while the template of GET /orders/response/ renders (a "
        "TemplateResponse of the view tests.perfprobe.cbv_urls.order_response, "
        "rendered after the view returned): Order.customer loaded one row at a "
        "time, 6 queries in GET /orders/response/"
    )
    assert rec.suggestion.endswith(
        'add select_related("customer") to the Order queryset passed to the '
        f"TemplateResponse at {_line('# RESPONSE')}, so that Order.customer "
        "comes with its rows instead of once per row."
    )
    assert [r for r in report.recommendations if r.rule_id == "duplicate-queries"] == []
    (repeats,) = _customer_repeats(report)
    assert (repeats["scope_count"], repeats["repeated_sets"]) == (
        1,
        _repeated_customers(),
    )


def test_the_n_plus_one_assertion_places_it_as_the_report_does(
    orders_site: None, fresh_monitor: PerformanceMonitor
) -> None:
    """assert_no_n_plus_one names the TemplateResponse's template and its view."""
    with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["test_rules_cbv"]}):
        with pytest.raises(BudgetExceeded) as caught:
            with assert_no_n_plus_one():
                assert Client().get("/orders/cbv/").status_code == 200
        report = fresh_monitor.generate_report()

    message = str(caught.value)
    rec = _only_n_plus_one(report)
    assert (
        f"  6 x {rec.evidence['fingerprint']}  while the template of GET /orders/cbv/ "
        "renders (a TemplateResponse of the class-based view "
        "tests.perfprobe.cbv_urls.OrderListView, rendered after the view returned) "
        "loading Order.customer\n"
    ) in message
    assert message.endswith(f"\n    {rec.suggestion}")
    assert f"OrderListView.get_queryset() at {_line('# GET_QUERYSET')}" in message


def test_under_the_test_client_the_request_line_leads_to_the_view(
    orders_site: None, fresh_monitor: PerformanceMonitor
) -> None:
    """The test's client.get() line is the call site; the view is still named."""
    client = Client()
    with pytest.raises(BudgetExceeded) as caught:
        with assert_no_n_plus_one():
            client.get("/orders/cbv/")  # the request
    report = fresh_monitor.generate_report()

    rec = _only_n_plus_one(report)
    here = f"tests/perfprobe/test_rules_cbv.py:{_own_line('# the request')}"
    assert rec.evidence["call_site"] == here
    assert rec.title.startswith(
        "N+1 queries while the template of GET /orders/cbv/ renders"
    )
    assert f"returned by OrderListView.get_queryset() at {_line('# GET_QUERYSET')}" in (
        rec.suggestion
    )
    assert f"\n    {rec.suggestion}" in str(caught.value)
