"""Test the ``perfprobe_compare`` management command and its exit statuses."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.demo.cli import manage

from .compare_factories import N1_SITE, N1_SQL, report, run, write
from .report_factories import (
    build,
    make_collector,
    n_plus_one_queries,
    query,
    request,
    run_scope,
)


def compare(*args: str) -> str:
    """Run the command in-process and return what it printed."""
    stdout = StringIO()
    call_command("perfprobe_compare", *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def refused(*args: str) -> CommandError:
    """Run the command, expect a CommandError, and return it."""
    with pytest.raises(CommandError) as caught:
        compare(*args)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    """Write an old and a new report and return their paths."""

    def make(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str]:
        return write(tmp_path / "old.json", old), write(tmp_path / "new.json", new)

    return make


def _checkout(*medians_s: float) -> dict[str, Any]:
    return report(*(run(operations={"checkout": (m, m * 2)}) for m in medians_s))


def test_identical_reports_show_no_change(pair: Any) -> None:
    """Comparing a report with itself finds nothing, with --fail-on set."""
    old, new = pair(_checkout(0.1, 0.11, 0.12), _checkout(0.1, 0.11, 0.12))

    output = compare(old, new, "--fail-on", "regression")

    assert "Runs: old 3, new 3" in output
    assert "checkout" in output
    assert "Result: no change beyond noise and tolerance." in output
    assert "Gate passed" in output


def test_plain_output_lines_end_without_spaces(pair: Any) -> None:
    """Table titles and wrapped notes are not padded with spaces to the width."""
    old, new = pair(_checkout(0.1), _checkout(0.1))

    output = compare(old, new)

    assert "Operations" in output.splitlines()
    assert [line for line in output.splitlines() if line.endswith(" ")] == []


def test_a_fifty_percent_regression_fails_the_gate_with_status_1(pair: Any) -> None:
    """Median 100 -> 150 ms over runs 4 ms apart: slower, exit status 1."""
    old, new = pair(_checkout(0.098, 0.1, 0.102), _checkout(0.148, 0.15, 0.152))
    stdout = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "perfprobe_compare", old, new, "--fail-on=regression", stdout=stdout
        )

    assert caught.value.returncode == 1
    assert "--fail-on regression" in str(caught.value)
    assert "operation checkout is slower" in str(caught.value)
    output = stdout.getvalue()
    assert "100 -> 150 ms" in output
    assert "+50.0%" in output
    assert "slower (median, p95)" in output


def test_without_fail_on_a_regression_is_only_reported(pair: Any) -> None:
    """The comparison prints the regression but the command succeeds."""
    old, new = pair(_checkout(0.1), _checkout(0.2))

    output = compare(old, new)

    assert "Result: 1 regression" in output
    assert "operation checkout is slower" in output


def test_a_single_run_says_only_the_tolerance_decides(pair: Any) -> None:
    """With one run in each report the output says no spread is known."""
    old, new = pair(_checkout(0.1), _checkout(0.1))
    output = " ".join(compare(old, new).split())
    assert "no spread is known: only the tolerance (10%) decides" in output


@pytest.mark.parametrize(
    ("tolerance", "verdict"),
    [("5", "slower"), ("10", "unchanged"), ("7.5%", "slower"), ("8.5", "unchanged")],
)
def test_tolerance_is_a_percentage(pair: Any, tolerance: str, verdict: str) -> None:
    """A +8 % change (1.00 -> 1.08 s, one run) counts only above the tolerance."""
    old, new = pair(_checkout(1.0), _checkout(1.08))
    output = compare(old, new, "--tolerance", tolerance)
    assert f"| {verdict}" in output


def test_one_more_query_fails_the_gate(pair: Any) -> None:
    """Query counts compare exactly: 12 -> 13 fails --fail-on regression."""
    old, new = pair(
        report(run(scenarios={"db": (1.0, 12)}, queries=12)),
        report(run(scenarios={"db": (1.0, 13)}, queries=13)),
    )
    stdout = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "perfprobe_compare", old, new, "--fail-on", "regression", stdout=stdout
        )
    assert caught.value.returncode == 1
    assert "scenario db: 12 -> 13 queries" in stdout.getvalue()


def test_a_new_n_plus_one_is_listed(pair: Any) -> None:
    """A new N+1 finding appears with its call site."""
    old, new = pair(report(run()), report(run(n_plus_one={(N1_SQL, N1_SITE): 10})))
    output = compare(old, new)
    assert "| new finding |" in output
    assert "only in new" not in output
    assert N1_SITE in output


def test_fail_on_critical_looks_at_the_new_report(pair: Any) -> None:
    """A critical recommendation in NEW fails; one only in OLD does not."""
    with_critical = report(run(critical=1), critical_titles=("Request errors: 500",))
    old, new = pair(report(run()), with_critical)
    error = refused(old, new, "--fail-on", "critical")
    assert error.returncode == 1
    assert "Request errors: 500" in str(error)

    old, new = pair(with_critical, report(run()))
    assert "Gate passed" in compare(old, new, "--fail-on", "critical")


def test_both_conditions_are_reported_together(pair: Any) -> None:
    """--fail-on regression,critical names every condition that is met."""
    old = _checkout(0.1)
    new = report(run(operations={"checkout": (0.3, 0.6)}, critical=2))
    old_path, new_path = pair(old, new)

    error = refused(old_path, new_path, "--fail-on", "regression,critical")

    assert error.returncode == 1
    assert "--fail-on regression" in str(error)
    assert "--fail-on critical: 2 critical" in str(error)


# -- bad input: status 2, one line naming the option ----------------------------


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "", "-0.1%"])
def test_a_bad_tolerance_is_refused(pair: Any, value: str) -> None:
    """Each bad --tolerance names the option and the value, status 2."""
    old, new = pair(report(run()), report(run()))
    error = refused(old, new, f"--tolerance={value}")
    assert error.returncode == 2
    assert "--tolerance" in str(error) and repr(value) in str(error)


@pytest.mark.parametrize("value", ["regresion", "regression,slow", ""])
def test_an_unknown_fail_on_is_refused(pair: Any, value: str) -> None:
    """--fail-on accepts only regression and critical."""
    old, new = pair(report(run()), report(run()))
    error = refused(old, new, "--fail-on", value)
    assert error.returncode == 2
    assert "--fail-on" in str(error) and "regression, queries or critical" in str(error)


def test_a_missing_old_report_is_refused(tmp_path: Path) -> None:
    """OLD that does not exist is named with its path."""
    new = write(tmp_path / "new.json", report(run()))
    missing = str(tmp_path / "nope.json")
    error = refused(missing, new)
    assert error.returncode == 2
    assert f"OLD.json {missing!r} cannot be read" in str(error)


def test_a_new_report_that_is_not_json_is_refused(tmp_path: Path) -> None:
    """NEW with text in it is named as not JSON."""
    old = write(tmp_path / "old.json", report(run()))
    (tmp_path / "new.json").write_text("<html>")
    error = refused(old, str(tmp_path / "new.json"))
    assert error.returncode == 2
    assert f"NEW.json {tmp_path / 'new.json'}" in str(error).replace("'", "")
    assert "is not JSON" in str(error)


def test_json_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    """Some other JSON document is not taken for a report."""
    old = write(tmp_path / "old.json", {"name": "package.json"})
    new = write(tmp_path / "new.json", report(run()))
    error = refused(old, new)
    assert "is not a perfprobe report" in str(error)


# -- the real command line ------------------------------------------------------


def test_cli_exit_statuses(tmp_path: Path) -> None:
    """0 with no gate met, 1 when --fail-on is met, 2 for bad input; no traceback."""
    old = write(tmp_path / "old.json", _checkout(0.1))
    slower = write(tmp_path / "slower.json", _checkout(0.2))
    command = "perfprobe_compare"

    passed = manage(command, old, old, "--fail-on", "regression")
    failed = manage(command, old, slower, "--fail-on", "regression")
    bad = manage(command, old, slower, "--tolerance", "abc")
    missing = manage(command, old, str(tmp_path / "missing.json"))
    usage = manage(command, old)

    assert passed.returncode == 0, passed.stderr
    assert "Result: no change" in passed.stdout
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "GateFailed: --fail-on regression: 1 found (operation checkout is slower: "
        "median 100 -> 200 ms (+100.0%), p95 200 -> 400 ms (+100.0%))"
    ]
    assert "slower" in failed.stdout
    for result in (bad, missing, usage):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "--tolerance" in bad.stderr and "'abc'" in bad.stderr
    assert "missing.json" in missing.stderr


def test_reports_written_by_the_library_compare(tmp_path: Path) -> None:
    """Two ``Report.write_json`` files of a live app compare, endpoint by endpoint."""
    paths = []
    for index, duration_s in enumerate((0.05, 0.5)):
        collector = make_collector()
        # 20 requests: enough for the p95 of a single run to be judged.
        for _ in range(20):
            collector.record_request(request("/orders/", 200, duration_s), None)
        paths.append(str(build(collector).write_json(tmp_path / f"{index}.json")))

    stdout = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "perfprobe_compare", *paths, "--fail-on", "regression", stdout=stdout
        )

    assert caught.value.returncode == 1
    assert "50.0 -> 500 ms" in stdout.getvalue()
    assert "+900.0%" in stdout.getvalue()


def _live_report(path: Path, requests: int, queries_per_request: int) -> str:
    """Write the report of a live site's ``requests`` to GET /orders/.

    Each request runs one list query, ``queries_per_request - 7`` more, and
    a loop of 6 lazy loads: an N+1 of 6 queries in its scope.
    """
    collector = make_collector()
    extra = queries_per_request - 7
    for _ in range(requests):
        events = [
            query('SELECT * FROM "shop_order"', 0.001),
            *(query(f"SELECT {i}", 0.001) for i in range(extra)),
            *n_plus_one_queries(6),
        ]
        run_scope(collector, "GET /orders/", events)
        collector.record_request(
            request("/orders/", 200, 0.05, query_count=len(events)), None
        )
    return str(build(collector).write_json(path))


def test_live_reports_of_ten_times_the_traffic_pass_the_gate(tmp_path: Path) -> None:
    """10 requests of 7 queries against 100: per request and per scope the same.

    The totals, 70 -> 700 queries and 60 -> 600 N+1 queries, come from the
    traffic; the whole report's is not compared and the gate passes.
    """
    old = _live_report(tmp_path / "old.json", 10, 7)
    new = _live_report(tmp_path / "new.json", 100, 7)

    output = compare(old, new, "--fail-on", "regression")

    assert "Gate passed (--fail-on regression)." in output
    assert "| queries | whole report | 70  | 700 | not compared |" in output
    assert (
        "Note: Query totals per run are not compared: GET /orders/ had 10 "
        "requests in old, 100 in new."
    ) in " ".join(output.split())
    assert "queries/request" not in output


def test_one_more_query_per_request_fails_the_gate_on_less_traffic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 requests of 7 queries (70) against 5 of 8 (40): 7 -> 8 per request.

    At 80 columns the table keeps its rows on one line each.
    """
    monkeypatch.setenv("COLUMNS", "80")
    old = _live_report(tmp_path / "old.json", 10, 7)
    new = _live_report(tmp_path / "new.json", 5, 8)
    stdout = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "perfprobe_compare", old, new, "--fail-on", "regression", stdout=stdout
        )

    assert caught.value.returncode == 1
    assert str(caught.value) == (
        "--fail-on regression: 1 found (endpoint GET /orders/: 7 -> 8 queries/request)"
    )
    lines = stdout.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "| queries/request | endpoint GET /orders/ | 7   | 8   | more" in (
        stdout.getvalue()
    )


def test_a_fault_of_the_command_is_one_line_with_status_2(
    pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside the command is told in one line, exit 2 (1 is the gate's)."""
    old, new = pair(_checkout(0.1), _checkout(0.1))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(
        "perfprobe.management.commands.perfprobe_compare.run_gate", broken
    )
    error = refused(old, new, "--fail-on", "regression")
    assert error.returncode == 2
    assert str(error) == (
        "perfprobe failed (ZeroDivisionError: float division by zero); "
        "--traceback shows where."
    )
    # --traceback: the fault itself, as Django's commands give it.
    with pytest.raises(ZeroDivisionError):
        call_command("perfprobe_compare", old, new, traceback=True, stdout=StringIO())


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize(
    ("fault", "told"),
    [
        # A message over several lines is one line still.
        (ValueError("bad row\n  at line 3\n"), "ValueError: bad row at line 3"),
        # A huge message is cut, not poured into the terminal.
        (ValueError("x" * 1_000_000), "ValueError: " + "x" * 199 + "…"),
        # No message: the type alone, not "AssertionError: ".
        (AssertionError(), "AssertionError"),
        # A message that cannot be made: the type alone, no traceback.
        (_Unprintable(), "_Unprintable"),
    ],
)
def test_a_fault_s_message_is_told_on_one_short_line(
    pair: Any, monkeypatch: pytest.MonkeyPatch, fault: Exception, told: str
) -> None:
    old, new = pair(_checkout(0.1), _checkout(0.1))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise fault

    monkeypatch.setattr(
        "perfprobe.management.commands.perfprobe_compare.run_gate", broken
    )
    error = refused(old, new, "--fail-on", "regression")
    assert error.returncode == 2
    assert str(error) == f"perfprobe failed ({told}); --traceback shows where."


def _verdicts(output: str) -> dict[str, str]:
    """Return the last cell of each ASCII table row, keyed by its first cells."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and cells[0]:
            rows[" ".join(cells[:2])] = cells[-1]
    return rows


def test_a_fixed_n_plus_one_reads_apart_from_a_row_not_judged(pair: Any) -> None:
    """Gone from new: an N+1 finding is fixed; an endpoint is merely not judged.

    Both used to read "only in old".
    """
    old_run = run(
        endpoints={"GET /orders/": (0.01, 0.02, 3), "GET /gone/": (0.01, 0.02, 1)},
        n_plus_one={(N1_SQL, N1_SITE): 5},
    )
    new_run = run(endpoints={"GET /orders/": (0.01, 0.02, 3)})
    old, new = pair(report(old_run), report(new_run))

    verdicts = _verdicts(compare(old, new))

    assert verdicts["GET /gone/ -"] == "only in old, not judged"
    assert verdicts["queries/request endpoint GET /gone/"] == (
        "only in old, not judged"
    )
    (n_plus_one,) = [v for k, v in verdicts.items() if k.startswith("N+1")]
    assert n_plus_one == "gone: fixed"


def test_the_gate_names_the_endpoint_before_the_whole_report(pair: Any) -> None:
    """One more query per request: stderr names the endpoint, not the total.

    Same work in both (one request, ten scopes), so the whole report's 30
    -> 40 queries is also a regression; it used to be the one named.
    """
    old, new = pair(
        report(run(endpoints={"GET /orders/": (0.01, 0.02, 3)}, queries=30, scopes=10)),
        report(run(endpoints={"GET /orders/": (0.01, 0.02, 4)}, queries=40, scopes=10)),
    )

    error = refused(old, new, "--fail-on", "queries")

    assert str(error) == (
        "--fail-on queries: 2 found (endpoint GET /orders/: 3 -> 4 "
        "queries/request, ...)"
    )


def test_a_moved_n_plus_one_with_the_same_count_has_its_row(pair: Any) -> None:
    """Line 42 -> 44 at 5 queries a scope: a row names the move, and a note."""
    old, new = pair(
        report(run(n_plus_one={(N1_SQL, N1_SITE): 5})),
        report(run(n_plus_one={(N1_SQL, "apps/shop/views.py:44"): 5})),
    )

    output = compare(old, new, "--fail-on", "regression")

    row = [line for line in output.splitlines() if "| apps/shop/views.py:42 ->" in line]
    assert len(row) == 1
    assert row[0].split("|")[3:6] == [" 5   ", " 5   ", " same (line moved) "]
    assert "Note: N+1 finding apps/shop/views.py:42 -> 44 is one finding" in output
    assert "Gate passed (--fail-on regression)." in output


def test_reports_from_the_home_folder_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~/old.json`` is the home folder's file, as the demo's paths are."""
    write(tmp_path / "old.json", _checkout(0.1))
    write(tmp_path / "new.json", _checkout(0.1))
    monkeypatch.setenv("HOME", str(tmp_path))

    output = compare("~/old.json", "~/new.json")

    assert "Result: no change beyond noise and tolerance." in output
