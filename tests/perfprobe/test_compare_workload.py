"""Test telling whether two reports served the same work (``compare.workload``)."""

from __future__ import annotations

from typing import Any

import pytest

from perfprobe.compare import report_from_data
from perfprobe.compare.workload import workload_difference

from .compare_factories import report, run


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    return workload_difference(
        report_from_data(old, "old.json"), report_from_data(new, "new.json")
    )


def _work(scenarios: tuple[str, ...] = (), **requests: int) -> dict[str, Any]:
    """One run of ``scenarios`` and ``requests`` requests to GET /<name>/."""
    return run(
        scenarios={name: (1.0, 1) for name in scenarios},
        endpoints={
            f"GET /{name}/": (0.1, 0.1, [1] * count) for name, count in requests.items()
        },
    )


def test_the_same_scenarios_and_requests_are_the_same_work() -> None:
    """Three runs against one: what counts is each run's work, not how many."""
    old = report(*(_work(("db", "api"), orders=2) for _ in range(3)))
    assert _difference(old, report(_work(("api", "db"), orders=2))) is None


def test_a_different_number_of_requests_names_the_endpoint() -> None:
    """2 requests to /orders/ against 20: the message gives both."""
    difference = _difference(report(_work(orders=2)), report(_work(orders=20)))
    assert difference == "GET /orders/ had 2 requests in old, 20 in new"


def test_an_endpoint_in_one_report_only_is_other_work() -> None:
    """No request to /cart/ in the old report counts as 0."""
    difference = _difference(report(_work(orders=2)), report(_work(orders=2, cart=1)))
    assert difference == "GET /cart/ had 0 requests in old, 1 in new"


def test_the_same_number_of_scopes_is_the_same_work() -> None:
    """A pytest session of 40 tests and no request, run twice: the same work.

    Run with 41 tests it is not; a report that does not count its scopes
    (written before they were kept) is judged by the rest.
    """
    forty = report(run(scopes=40))

    assert _difference(forty, report(run(scopes=40))) is None
    assert _difference(forty, report(run(scopes=41))) == (
        "they closed 40 scopes in old, 41 in new"
    )
    assert (
        _difference(
            report(_work(("db",))), report(run(scenarios={"db": (2.0, 5)}, scopes=3))
        )
        is None
    )


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (report(_work(("db",))), report(_work(("db", "api"))), "different scenarios"),
        (
            report(_work(orders=1), _work(orders=2)),
            report(_work(orders=1)),
            "the runs of the old report did different work",
        ),
        (report(_work()), report(_work()), "neither report shows its work"),
        (
            report(_work(("db",)), seed=7),
            report(_work(("db",)), seed=42),
            "different seeds",
        ),
    ],
    ids=["scenarios", "runs", "nothing", "seeds"],
)
def test_other_work_says_why(old: Any, new: Any, reason: str) -> None:
    """Each way the work can differ, or be unknown, is named."""
    difference = _difference(old, new)
    assert difference is not None and reason in difference


def test_a_seed_known_on_one_side_only_is_no_difference() -> None:
    """A report that names no seed (pytest, a live page) does not differ by it."""
    assert _difference(report(_work(("db",))), report(_work(("db",)), seed=7)) is None
