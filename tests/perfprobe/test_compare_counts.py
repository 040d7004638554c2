"""Test how counts compare (``perfprobe.compare.counts``): per request, per scope,
totals only over the same work.

Every expected verdict is worked out by hand in the docstring from the
queries each request or scope made.
"""

from __future__ import annotations

from typing import Any

from perfprobe.compare import compare_reports, report_from_data
from perfprobe.compare.comparison import Comparison
from perfprobe.compare.counts import NOT_COMPARED, CountRow
from perfprobe.compare.figures import ALL_QUERIES, N_PLUS_ONE, QUERIES

from .compare_factories import N1_SITE, N1_SQL, report, run

ORDERS = "GET /api/orders/"
ENDPOINT = f"endpoint {ORDERS}"
FINDING = f"{N1_SITE}: {N1_SQL}"


def _compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    return compare_reports(
        report_from_data(old, "old.json"),
        report_from_data(new, "new.json"),
        tolerance=0.1,
    )


def _row(comparison: Comparison, kind: str, name: str) -> CountRow:
    (row,) = [r for r in comparison.counts if r.key == (kind, name)]
    return row


def _shown(row: CountRow) -> tuple[str, str, str, str]:
    return (row.what, str(row.old), str(row.new), row.verdict)


def _orders(per_request: list[int], per_scope: list[int]) -> dict[str, Any]:
    """A live report: requests to ORDERS, each one list query plus an N+1."""
    return report(
        run(
            endpoints={ORDERS: (0.05, 0.08, per_request)},
            n_plus_one={(N1_SQL, N1_SITE): per_scope} if per_scope else None,
            queries=sum(per_request),
        )
    )


def test_ten_times_the_traffic_at_the_same_queries_per_request_is_unchanged() -> None:
    """10 requests of 7 queries (1 + an N+1 of 6) against 100 of them.

    Per request 7 -> 7 and per scope 6 -> 6: the same. The totals (70 ->
    700 queries, 60 -> 600 N+1 queries) grew with the traffic alone, so the
    whole report's total is not compared and nothing is a regression.
    """
    old = _orders([7] * 10, [6] * 10)
    new = _orders([7] * 100, [6] * 100)

    comparison = _compare(old, new)

    assert _shown(_row(comparison, QUERIES, ENDPOINT)) == (
        "queries/request",
        "7",
        "7",
        "same",
    )
    assert _shown(_row(comparison, N_PLUS_ONE, FINDING)) == (
        "N+1 queries/scope",
        "6",
        "6",
        "same",
    )
    assert _shown(_row(comparison, QUERIES, ALL_QUERIES)) == (
        "queries",
        "70",
        "700",
        NOT_COMPARED,
    )
    assert comparison.regressions() == []
    assert comparison.improvements() == []
    (note,) = comparison.notes
    assert f"{ORDERS} had 10 requests in old, 100 in new" in note


def test_one_more_query_per_request_is_more_even_on_less_traffic() -> None:
    """10 requests of 3 queries (30) against 5 of 4 (20): per request 3 -> 4.

    Fewer queries in all, yet each request makes one more: a regression.
    """
    comparison = _compare(_orders([3] * 10, []), _orders([4] * 5, []))

    assert _shown(_row(comparison, QUERIES, ENDPOINT)) == (
        "queries/request",
        "3",
        "4",
        "more",
    )
    assert comparison.regressions() == [f"{ENDPOINT}: 3 -> 4 queries/request"]


def test_one_more_query_per_request_on_the_same_traffic_also_raises_the_total() -> None:
    """10 requests of 3 against 10 of 4: 3 -> 4 per request, 30 -> 40 in all.

    The same requests make the totals comparable: both are regressions.
    """
    comparison = _compare(_orders([3] * 10, []), _orders([4] * 10, []))

    assert _row(comparison, QUERIES, ENDPOINT).verdict == "more"
    assert _shown(_row(comparison, QUERIES, ALL_QUERIES)) == (
        "queries",
        "30",
        "40",
        "more",
    )
    assert comparison.notes == []


def test_a_request_above_the_old_most_is_more_the_fewest_rising_is_changed() -> None:
    """Requests of 2 and 5 queries; then 3 and 5, or 2 and 6.

    2-5 -> 3-5: the most holds, only the fewest moved: changed, not a
    regression by itself; over the same 10 requests the whole report's 35 ->
    40 is one. 2-5 -> 2-6: one request made more than any before: more.
    """
    old = _orders([2, 5] * 5, [])

    cheaper_rose = _compare(old, _orders([3, 5] * 5, []))
    most_rose = _compare(old, _orders([2, 6] * 5, []))

    assert _shown(_row(cheaper_rose, QUERIES, ENDPOINT)) == (
        "queries/request",
        "2-5",
        "3-5",
        "changed",
    )
    assert cheaper_rose.regressions() == ["whole report: 35 -> 40 queries"]
    assert _shown(_row(most_rose, QUERIES, ENDPOINT))[1:] == ("2-5", "2-6", "more")


def test_an_n_plus_one_whose_loop_grew_per_request_is_a_regression() -> None:
    """5 requests looping 10 times (50 queries) against 3 looping 12 times (36).

    Fewer N+1 queries in all, but 10 -> 12 in one scope: a regression.
    """
    comparison = _compare(_orders([11] * 5, [10] * 5), _orders([13] * 3, [12] * 3))

    row = _row(comparison, N_PLUS_ONE, FINDING)

    assert _shown(row) == ("N+1 queries/scope", "10", "12", "more")
    assert f"{FINDING}: 10 -> 12 N+1 queries/scope" in comparison.regressions()


def test_an_n_plus_one_shorter_per_request_on_more_traffic_is_an_improvement() -> None:
    """2 scopes of 10 (20 queries) against 10 scopes of 8 (80): 10 -> 8, fewer."""
    comparison = _compare(_orders([11] * 2, [10] * 2), _orders([9] * 10, [8] * 10))

    assert _shown(_row(comparison, N_PLUS_ONE, FINDING))[1:] == ("10", "8", "fewer")
    assert comparison.regressions() == []


def test_the_same_scenarios_and_requests_make_totals_comparable() -> None:
    """Two repeated runs each of scenario db and one POST: the same work.

    The whole report (12 -> 13 per run) is judged; so is the scenario.
    """
    old = report(
        *(
            run(
                scenarios={"db": (1.0, 12)},
                endpoints={"POST /api/orders/": (0.1, 0.1, 7)},
                queries=12,
            )
            for _ in range(2)
        )
    )
    new = report(
        *(
            run(
                scenarios={"db": (1.0, 13)},
                endpoints={"POST /api/orders/": (0.1, 0.1, 7)},
                queries=13,
            )
            for _ in range(3)
        )
    )

    comparison = _compare(old, new)

    assert _row(comparison, QUERIES, ALL_QUERIES).verdict == "more"
    assert _row(comparison, QUERIES, "scenario db").verdict == "more"
    assert comparison.notes == []


def test_different_seeds_leave_totals_unjudged_but_not_scenarios() -> None:
    """Seeds 7 and 42 made other data: a run's total is not compared.

    A scenario's queries are per run of the scenario, and still judged.
    """
    old = report(run(scenarios={"db": (1.0, 12)}, queries=12), seed=7)
    new = report(run(scenarios={"db": (1.0, 13)}, queries=13), seed=42)

    comparison = _compare(old, new)

    assert _row(comparison, QUERIES, ALL_QUERIES).verdict == NOT_COMPARED
    assert _row(comparison, QUERIES, "scenario db").verdict == "more"
    assert "different seeds" in comparison.notes[0]


def test_an_older_repeated_report_compares_its_totals_over_the_same_work() -> None:
    """Old runs without per-request or per-scope figures, as before 5 Dec 2026.

    The same requests in every run: its endpoint (7 -> 8) and N+1 (10 ->
    12) rows compare per run, judged, and a note says why.
    """
    old = report(
        *(
            run(
                endpoints={ORDERS: (0.1, 0.1, 7)},
                n_plus_one={(N1_SQL, N1_SITE): 10},
                legacy=True,
            )
            for _ in range(2)
        )
    )
    new = report(
        run(endpoints={ORDERS: (0.1, 0.1, 8)}, n_plus_one={(N1_SQL, N1_SITE): 12})
    )

    comparison = _compare(old, new)

    assert _shown(_row(comparison, QUERIES, ENDPOINT)) == ("queries", "7", "8", "more")
    assert _shown(_row(comparison, N_PLUS_ONE, FINDING)) == (
        "N+1 queries",
        "10",
        "12",
        "more",
    )
    (note,) = comparison.notes
    assert note.startswith(
        "The old report (old.json) has no per-request query range and no "
        "per-scope N+1 figure"
    )
    assert note.endswith(
        "judged only when both reports served the same work, as they did."
    )


def test_an_older_report_of_other_traffic_leaves_its_totals_unjudged() -> None:
    """The legacy old report had 2 requests (14 queries), the new one 20 (140).

    Without its per-request range the endpoint compares per run, which the
    different traffic makes meaningless: not compared, not a regression.
    """
    old = report(run(endpoints={ORDERS: (0.1, 0.1, [7, 7])}, legacy=True))
    new = report(run(endpoints={ORDERS: (0.1, 0.1, [7] * 20)}))

    comparison = _compare(old, new)

    assert _shown(_row(comparison, QUERIES, ENDPOINT)) == (
        "queries",
        "14",
        "140",
        NOT_COMPARED,
    )
    assert comparison.regressions() == []
    assert len(comparison.notes) == 2


def test_an_endpoint_with_no_request_counted_compares_its_totals() -> None:
    """Requests that all failed before counting: no per-request figure (null).

    Both reports list the endpoint with 0 requests and 0 queries: the same,
    not "only in new".
    """
    data = report(run(endpoints={ORDERS: (0.1, 0.1, 0)}, scenarios={"db": (1.0, 1)}))
    (endpoint,) = data["endpoints"]
    endpoint.update(count=0, stats=None, query_counts=None)

    row = _row(_compare(data, data), QUERIES, ENDPOINT)

    assert _shown(row) == ("queries", "0", "0", "same")
