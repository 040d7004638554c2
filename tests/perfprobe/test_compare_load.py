"""Test reading reports for comparison (``perfprobe.compare.load``, ``runs``)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from perfprobe.compare import ReportLoadError, load_report, report_from_data, run_record
from perfprobe.compare.figures import ALL_QUERIES, N_PLUS_ONE, QUERIES, CountKey
from perfprobe.report import validate_report

from .compare_factories import N1_SITE, N1_SQL, report, run, write
from .report_factories import (
    build,
    make_collector,
    n_plus_one_queries,
    operation,
    request,
    run_scope,
)


def test_an_old_single_run_report_is_read_as_one_run(tmp_path: Path) -> None:
    """A report without ``runs`` gives one run with the body's figures."""
    data = report(
        run(
            scenarios={"db": (1.25, 12)},
            operations={"checkout": (0.1, 0.3)},
            endpoints={"GET /api/products/": (0.02, 0.05, 3)},
            n_plus_one={(N1_SQL, N1_SITE): 10},
            queries=15,
        )
    )
    assert "runs" not in data

    loaded = load_report(write(tmp_path / "old.json", data))

    (figures,) = loaded.runs
    assert figures.timings[("scenario", "db")] == (1.25, 1.25)
    assert figures.timings[("operation", "checkout")] == (0.1, 0.3)
    assert figures.timings[("endpoint", "GET /api/products/")] == (0.02, 0.05)
    assert figures.counts[CountKey(QUERIES, ALL_QUERIES)] == 15
    assert figures.counts[CountKey(QUERIES, "scenario db")] == 12
    assert figures.counts[CountKey(QUERIES, "endpoint GET /api/products/")] == 3
    assert figures.counts[CountKey(N_PLUS_ONE, f"{N1_SITE}: {N1_SQL}")] == 10


def test_a_repeated_report_is_read_run_by_run() -> None:
    """Each ``runs`` entry becomes its own figures, in order."""
    data = report(*(run(operations={"a": (t, t)}) for t in (0.1, 0.2, 0.3)))

    loaded = report_from_data(data, "x")

    assert [r.timings[("operation", "a")][0] for r in loaded.runs] == [0.1, 0.2, 0.3]


def test_critical_recommendations_are_counted_per_run() -> None:
    """The most critical findings of any run, and the titles of the last."""
    data = report(run(critical=2), run(critical=0), critical_titles=())
    assert report_from_data(data, "x").critical_count == 2
    last = report(run(critical=1), critical_titles=("Request errors",))
    assert report_from_data(last, "x").critical_titles == ("Request errors",)


def test_run_record_of_a_real_report_matches_its_events() -> None:
    """Built from hand-made events: 0.1..0.4 s gives p50 0.25 s, p95 0.385 s."""
    collector = make_collector()
    for duration_s in (0.1, 0.2, 0.3, 0.4):
        collector.record_operation(operation("checkout", duration_s), None)
    run_scope(collector, "view", n_plus_one_queries(6))
    data = build(collector).to_dict()

    record = run_record(data)

    (checkout,) = record["operations"]
    assert checkout["count"] == 4
    assert checkout["p50"] == pytest.approx(0.25)
    assert checkout["p95"] == pytest.approx(0.385)
    assert record["queries"] == 6
    (finding,) = record["n_plus_one"]
    assert finding["count"] == 6


def test_run_record_keeps_queries_per_request_and_per_scope() -> None:
    """Requests of 2, 5 and 3 queries: 2-5 per request; N+1 scopes of 6 and 8.

    A finding seen in two scopes of 6 and 8 queries made at most 8 in one,
    and the run closed those 2 scopes; an endpoint never counted has no
    per-request figure.
    """
    collector = make_collector()
    for query_count in (2, 5, 3):
        collector.record_request(
            request("/orders/", 200, 0.05, query_count=query_count), None
        )
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    run_scope(collector, "GET /orders/", n_plus_one_queries(8))
    data = build(collector).to_dict()

    record = run_record(data)

    (orders,) = record["endpoints"]
    assert (orders["count"], orders["query_count"]) == (3, 10)
    assert orders["queries_per_request"] == {"min": 2, "max": 5}
    (finding,) = record["n_plus_one"]
    assert (finding["count"], finding["max_count_per_scope"]) == (14, 8)
    assert record["scopes_closed"] == 2
    data["runs"] = [record]
    validate_report(data)
    data["endpoints"][0]["query_counts"] = None
    assert run_record(data)["endpoints"][0]["queries_per_request"] is None


def test_a_record_without_the_per_unit_figures_reads_them_as_unknown() -> None:
    """Records written before 5 December 2026 lack them: ``None``, not 0."""
    data = report(
        run(
            endpoints={"GET /x/": (0.1, 0.2, 4)},
            n_plus_one={(N1_SQL, N1_SITE): 10},
            legacy=True,
        ),
        run(),
    )

    first, second = report_from_data(data, "x").runs

    assert first.per_unit[CountKey(QUERIES, "endpoint GET /x/")] is None
    assert first.per_unit[CountKey(N_PLUS_ONE, f"{N1_SITE}: {N1_SQL}")] is None
    assert first.counts[CountKey(QUERIES, "endpoint GET /x/")] == 4
    assert second.per_unit == {}


def test_a_report_with_runs_matches_the_shipped_schema() -> None:
    """A real report carrying run records validates; a bad record does not."""
    collector = make_collector()
    collector.record_operation(operation("checkout", 0.2), None)
    built = build(collector)
    built.runs = [run_record(built.to_dict()), run_record(built.to_dict())]
    data = built.to_dict()

    validate_report(data)

    broken = copy.deepcopy(data)
    broken["runs"][0]["operations"][0]["p50"] = -1
    with pytest.raises(jsonschema.ValidationError):
        validate_report(broken)


def test_a_report_without_runs_still_matches_the_schema() -> None:
    """``runs`` is optional: an old-shape report stays valid."""
    data = build(make_collector()).to_dict()
    assert "runs" not in data
    validate_report(data)


# -- bad input ------------------------------------------------------------------


def _error(path: str) -> str:
    with pytest.raises(ReportLoadError) as caught:
        load_report(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    """The OS's reason is given."""
    assert "No such file" in _error(str(tmp_path / "missing.json"))


def test_a_directory_is_not_a_report(tmp_path: Path) -> None:
    """A folder given as a report is refused, not read."""
    assert "is not a regular file" in _error(str(tmp_path))


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Reading a FIFO would block; it is refused up front."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert "is not a regular file" in _error(str(fifo))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json at all", "is not JSON"),
        (b"", "is not JSON"),
        (b'{"schema_version": "1.0", "x": NaN}', "NaN is not a JSON value"),
        # Beyond a float: the comparison's arithmetic would overflow, and 1e400
        # would be read as infinity.
        (
            b'{"schema_version": "1.0", "x": 1' + b"0" * 400 + b"}",
            "holds a number beyond a float's range: 100000000000... (401 digits)",
        ),
        (
            b'{"schema_version": "1.0", "x": -1e400}',
            "holds a number beyond a float's range: -1e400",
        ),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"[1, 2, 3]", "not a perfprobe report"),
        (b'{"title": "something else"}', "no schema_version"),
        (b'{"schema_version": "2.0"}', "schema_version '2.0'"),
        (b'{"schema_version": 1}', "schema_version 1"),
        (b'{"schema_version": "1.0"}', "generated_at is missing"),
    ],
)
def test_bad_content_is_one_clear_line(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    """Each kind of bad file names what is wrong with it."""
    target = tmp_path / "bad.json"
    target.write_bytes(content)
    assert fragment in _error(str(target))


class _Run:
    """The lists of the one run record ``_one_run`` gave a report."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.endpoints: list[dict[str, Any]] = record["endpoints"]
        self.n_plus_one: list[dict[str, Any]] = record["n_plus_one"]


def _one_run(data: dict[str, Any]) -> _Run:
    """Give ``data`` a ``runs`` list of one record with an endpoint and an N+1."""
    record = run(endpoints={"GET /x/": (1, 2, 3)}, n_plus_one={(N1_SQL, N1_SITE): 6})
    data["runs"] = [record]
    return _Run(record)


def _mutated(change: Any) -> dict[str, Any]:
    data = report(run(operations={"a": (0.1, 0.2)}, endpoints={"GET /x/": (1, 2, 3)}))
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.pop("operations"), "operations is missing"),
        (lambda d: d.update(operations={}), "operations is not a list"),
        (
            lambda d: d["operations"][0]["stats"].update(p50="fast"),
            "operations[0].stats.p50 is not a number: 'fast'",
        ),
        (
            lambda d: d["operations"][0]["stats"].update(p95=-1),
            "operations[0].stats.p95 is not a finite number >= 0",
        ),
        (
            lambda d: d["endpoints"][0]["query_counts"].update(total=2.5),
            "endpoints[0].query_counts.total is not a whole number",
        ),
        (
            lambda d: d["endpoints"][0]["query_counts"].update(max=2.5),
            "endpoints[0].query_counts.max is not a whole number",
        ),
        (
            lambda d: (
                _one_run(d)
                .endpoints[0]
                .update(queries_per_request={"min": 4, "max": 3})
            ),
            "runs[0].endpoints[0].queries_per_request.min is above",
        ),
        (
            lambda d: _one_run(d).n_plus_one[0].update(max_count_per_scope="six"),
            "runs[0].n_plus_one[0].max_count_per_scope is not a number",
        ),
        (lambda d: d.update(runs=[]), "runs is empty"),
        (lambda d: d.update(runs=[{"queries": 1}]), "runs[0].scenarios is missing"),
        (
            lambda d: d.update(runs=[{**run(), "queries": True}]),
            "runs[0].queries is not a number",
        ),
    ],
)
def test_malformed_reports_name_the_field(change: Any, fragment: str) -> None:
    """A missing or mistyped field is named with its path in the report."""
    with pytest.raises(ReportLoadError) as caught:
        report_from_data(_mutated(change), "x")
    assert fragment in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    """Permission denied is reported as the reason."""
    target = tmp_path / "locked.json"
    target.write_text(json.dumps(report(run())))
    target.chmod(0)
    assert "Permission denied" in _error(str(target))


def test_an_endpoint_without_timings_keeps_its_query_count() -> None:
    """``stats`` null (nothing timed): no timing row, but its queries count."""
    data = report(run(endpoints={"GET /x/": (0.1, 0.2, 4)}))
    data["endpoints"][0]["stats"] = None

    (figures,) = report_from_data(data, "x").runs

    assert ("endpoint", "GET /x/") not in figures.timings
    assert figures.counts[CountKey(QUERIES, "endpoint GET /x/")] == 4


def test_a_count_past_a_float_s_precision_is_read_exactly() -> None:
    """2**53 + 1 queries stay 2**53 + 1, not 2**53: counts compare exactly."""
    data = report(run(scenarios={"import": (1.0, 2**53 + 1)}, queries=2**53 + 1))

    (figures,) = report_from_data(data, "x").runs

    assert figures.counts[CountKey(QUERIES, "scenario import")] == 2**53 + 1
    assert figures.counts[CountKey(QUERIES, ALL_QUERIES)] == 2**53 + 1
