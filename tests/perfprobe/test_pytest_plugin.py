"""Tests for perfprobe.pytest_plugin: the fixture and budgets in real sub-runs.

Each sub-run is a separate pytest process (pytester's subprocess mode): the
suite's own Django settings and test database cannot be set up twice in one
process. The budget checks share one sub-run (see ``pytester_project``).
"""

from __future__ import annotations

import re

import pytest

from perfprobe import get_current_scope
from perfprobe.testing.fixture import PerfprobeFixture

from .pytester_project import (
    TIMEOUT_S,
    BudgetRun,
    django_project,
    isolate,
    run_budget_tests,
)

pytest_plugins = ["pytester"]


def shown_ms(match: re.Match[str]) -> float:
    """Return the duration a failure message showed, as milliseconds.

    format_duration switches to seconds at one second, which a loaded
    machine may reach.
    """
    value = float(match.group(1).replace(",", ""))
    return value if match.group(2) == "ms" else value * 1000


@pytest.fixture
def budget_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> BudgetRun:
    """Return the shared sub-run of the budget tests."""
    return run_budget_tests(pytester, monkeypatch)


def test_exactly_n_queries_pass_a_budget_of_n(budget_run: BudgetRun) -> None:
    """Three known queries under assert_max_queries(3) pass."""
    budget_run.result.stdout.fnmatch_lines(["*::test_three_within_three PASSED*"])


def test_n_queries_fail_a_budget_of_n_minus_one_naming_each(
    budget_run: BudgetRun,
) -> None:
    """Under assert_max_queries(2) the message lists the three shapes and lines."""
    budget_run.result.stdout.fnmatch_lines(
        [
            "*::test_three_over_two FAILED*",
            "E * 3 queries ran in the block, over the limit of 2 (perfprobe):",
        ]
    )
    expected = {
        "# query one": 'SELECT COUNT(*) AS "__count" FROM "shop_product"',
        "# query two": 'SELECT ? AS "a" FROM "shop_customer" LIMIT ?',
        "# query three": 'SELECT "shop_order"."id", "shop_order"."customer_id", ',
    }
    for marker, shape in expected.items():
        budget_run.result.stdout.fnmatch_lines(
            [f"E *  1 x {shape}*  at {budget_run.site(marker)}"]
        )


def test_an_n_plus_one_loop_is_named_with_model_and_field(
    budget_run: BudgetRun,
) -> None:
    """Six lazy Order.customer loads fail; the select_related loop passes."""
    budget_run.result.stdout.fnmatch_lines(
        [
            "*::test_lazy_loop FAILED*",
            "*::test_select_related_loop PASSED*",
            "E * 1 N+1 query pattern in the block*",
            f'E *  6 x SELECT * FROM "shop_customer" WHERE * at '
            f"{budget_run.site('# lazy load')} loading Order.customer",
        ]
    )
    # The report's words: the line whose queryset loaded the rows.
    budget_run.result.stdout.fnmatch_lines(
        [
            'E *Add select_related("customer") to the Order queryset at '
            f"{budget_run.site('# the queryset')}, whose rows are used at "
            f"{budget_run.site('# lazy load')}, *"
        ]
    )


def test_a_known_sleep_is_caught_with_its_duration_and_limit(
    budget_run: BudgetRun,
) -> None:
    """A 300 ms sleep fails assert_max_duration(0.1), naming both figures."""
    budget_run.result.stdout.fnmatch_lines(["*::test_known_sleep FAILED*"])
    match = re.search(
        r"the block took ([\d.,]+) (ms|s), over the limit of 100 ms \(perfprobe\)",
        budget_run.output,
    )
    assert match is not None, budget_run.output
    assert shown_ms(match) >= 300


def test_the_budgets_import_and_work_without_the_fixture(
    budget_run: BudgetRun,
) -> None:
    """perfprobe.testing.assert_max_queries passes one query at a budget of one."""
    budget_run.result.stdout.fnmatch_lines(["*::test_without_the_fixture PASSED*"])
    budget_run.result.assert_outcomes(passed=3, failed=3)


def test_a_failure_points_at_the_users_block_not_perfprobe(
    budget_run: BudgetRun,
) -> None:
    """The traceback of a budget failure ends in the test file, not in perfprobe."""
    assert "perfprobe/testing/assertions.py" not in budget_run.output


# -- in this process ----------------------------------------------------------


def test_the_fixture_scopes_the_test_by_its_node_id(
    request: pytest.FixtureRequest, perfprobe: PerfprobeFixture
) -> None:
    """The test runs inside a scope of kind "test" named by its node id."""
    assert get_current_scope() is perfprobe.scope
    assert perfprobe.scope.name == request.node.nodeid
    assert perfprobe.scope.kind == "test"
    assert perfprobe.collector is perfprobe.monitor.collector


@pytest.mark.django_db
def test_the_fixture_attributes_the_tests_queries_to_its_scope(
    request: pytest.FixtureRequest, perfprobe: PerfprobeFixture
) -> None:
    """A query in the test is recorded with the test's scope path."""
    from apps.shop.models import Product

    Product.objects.count()
    (query,) = [
        event
        for event in perfprobe.collector.snapshot().recent_events
        if getattr(event, "fingerprint", "").endswith('FROM "shop_product"')
    ]
    assert getattr(query, "scope", None) == request.node.nodeid


@pytest.mark.django_db
def test_the_fixtures_report_holds_the_tests_query(perfprobe: PerfprobeFixture) -> None:
    """perfprobe.report() is the monitor's report, with the query just run."""
    from apps.shop.models import Product

    Product.objects.count()
    report = perfprobe.report()
    (shape,) = [
        q
        for q in report.queries["by_fingerprint"]
        if q["fingerprint"] == 'SELECT COUNT(*) AS "__count" FROM "shop_product"'
    ]
    assert shape["count"] == 1


# -- without Django, or without perfprobe ---------------------------------------

PLAIN_TESTS = """\
def test_plain():
    assert 1 + 1 == 2


def test_uses_the_fixture(perfprobe):
    pass
"""


def test_a_session_without_django_runs_and_perfprobe_says_why_it_cannot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unrelated tests pass; the fixture and the report name the missing set-up."""
    isolate(pytester, monkeypatch)
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    target = pytester.path / "report.json"

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", "report.json", timeout=TIMEOUT_S
    )

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "the perfprobe fixture cannot record queries: Django is not set "
            "up: configure Django settings *",
            f"perfprobe: no report written to {target}: Django is not set up: *",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert not target.exists()


def test_without_perfprobe_in_installed_apps_the_fixture_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Django set up but perfprobe not installed, only the fixture test errors."""
    django_project(pytester, monkeypatch, apps=["apps.shop"])
    pytester.makepyfile(test_plain=PLAIN_TESTS)

    result = pytester.runpytest_subprocess(timeout=TIMEOUT_S)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "the perfprobe fixture cannot record queries: 'perfprobe' is not "
            "in INSTALLED_APPS, so no query is recorded",
        ]
    )
