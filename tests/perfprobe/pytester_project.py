"""Lay out throwaway projects for pytester sub-runs of the perfprobe plugin."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# A settings module of the sub-run's own: a file database of the demo's would
# be shared with the suite that runs these tests.
_SETTINGS = """\
SECRET_KEY = "pytester-only"
INSTALLED_APPS = {apps!r}
DATABASES = {{
    "default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
}}
USE_TZ = True
"""

# Generous: a sub-run on a busy two-core machine can take several seconds.
TIMEOUT_S = 120


def isolate(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the demo's apps importable and forget this suite's Django settings.

    pytest-django exports DJANGO_SETTINGS_MODULE, and the environment wins
    over a sub-run's ini file.
    """
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )


def django_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    apps: Sequence[str] = ("perfprobe", "apps.shop"),
) -> None:
    """Give the sub-run Django settings with ``apps`` on an in-memory SQLite."""
    isolate(pytester, monkeypatch)
    pytester.makepyfile(pp_settings=_SETTINGS.format(apps=list(apps)))
    pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = pp_settings\n")


def line_of(path: Path, marker: str) -> int:
    """Return the number of the one line of ``path`` that ends with ``marker``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if line.endswith(marker)]
    return number


BUDGET_TESTS = """\
import time

import pytest

from apps.shop.models import Customer, Order, Product

pytestmark = pytest.mark.django_db


def make_orders(count):
    for i in range(count):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Order.objects.create(customer=customer)


def run_three_queries():
    Product.objects.count()  # query one
    Customer.objects.exists()  # query two
    list(Order.objects.all())  # query three


def test_three_within_three(perfprobe):
    with perfprobe.assert_max_queries(3):
        run_three_queries()


def test_three_over_two(perfprobe):
    with perfprobe.assert_max_queries(2):
        run_three_queries()


def test_lazy_loop(perfprobe):
    make_orders(6)
    with perfprobe.assert_no_n_plus_one():
        for order in Order.objects.all():  # the queryset
            order.customer.name  # lazy load


def test_select_related_loop(perfprobe):
    make_orders(6)
    with perfprobe.assert_no_n_plus_one():
        for order in Order.objects.select_related("customer"):
            order.customer.name


def test_known_sleep(perfprobe):
    with perfprobe.assert_max_duration(0.1):
        time.sleep(0.3)


def test_without_the_fixture():
    from perfprobe.testing import assert_max_queries

    with assert_max_queries(1):
        Product.objects.count()  # unscoped query
"""


@dataclass
class BudgetRun:
    """The sub-run of BUDGET_TESTS with --perfprobe-report, and its files."""

    result: pytest.RunResult
    tests: Path
    report: Path

    @property
    def output(self) -> str:
        """Return what the sub-run printed."""
        return self.result.stdout.str()

    def site(self, marker: str) -> str:
        """Return the call site of the sub-run's line ending with ``marker``."""
        return f"{self.tests.name}:{line_of(self.tests, marker)}"


# Made by whichever test needs it first, in that test's pytester folder, and
# shared by the plugin's and the report's tests: one sub-run instead of one
# per check.
_budget_run: BudgetRun | None = None


def run_budget_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> BudgetRun:
    """Return the one sub-run of BUDGET_TESTS, running it on first use."""
    global _budget_run
    if _budget_run is None:
        django_project(pytester, monkeypatch)
        tests = pytester.makepyfile(test_budgets=BUDGET_TESTS)
        report = pytester.path / "session.json"
        result = pytester.runpytest_subprocess(
            "-v", "--perfprobe-report", str(report), timeout=TIMEOUT_S
        )
        _budget_run = BudgetRun(result, tests, report)
    return _budget_run
