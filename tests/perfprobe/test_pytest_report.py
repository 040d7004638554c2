"""Tests for perfprobe.pytest_report: --perfprobe-report in real sub-runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from perfprobe import PerformanceMonitor
from perfprobe.pytest_report import (
    SessionReport,
    refuse_distribution,
    report_target,
)
from perfprobe.report import validate_report

from .pytester_project import (
    TIMEOUT_S,
    BudgetRun,
    django_project,
    isolate,
    run_budget_tests,
)

pytest_plugins = ["pytester"]

ACCEPTED = "expected the path of a JSON file in an existing, writable folder"


@pytest.fixture
def budget_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> BudgetRun:
    """Return the shared sub-run of the budget tests, run with --perfprobe-report."""
    return run_budget_tests(pytester, monkeypatch)


@pytest.fixture
def report(budget_run: BudgetRun) -> dict[str, Any]:
    """Return the report the budget sub-run wrote, parsed."""
    data: dict[str, Any] = json.loads(budget_run.report.read_text(encoding="utf-8"))
    return data


def test_the_report_is_written_and_the_test_outcome_kept(budget_run: BudgetRun) -> None:
    """The session says where the report went and still exits 1 for its failures."""
    budget_run.result.stdout.fnmatch_lines(
        [f"perfprobe: session report written to {budget_run.report}"]
    )
    assert budget_run.result.ret == pytest.ExitCode.TESTS_FAILED


def test_the_report_matches_the_schema(report: dict[str, Any]) -> None:
    """The file is a report as the JSON Schema describes it."""
    validate_report(report)
    assert report["title"] == "perfprobe report: pytest session"


def test_every_test_is_a_scope_holding_its_known_queries(
    report: dict[str, Any],
) -> None:
    """Each test's scope has the queries counted by hand from its code."""
    counts = {s["name"]: s["query_count"] for s in report["scopes"]}
    assert counts == {
        "test_budgets.py::test_three_within_three": 3,
        "test_budgets.py::test_three_over_two": 3,
        # Six customers and six orders created, the orders read, then each
        # order's customer loaded on its own.
        "test_budgets.py::test_lazy_loop": 12 + 1 + 6,
        "test_budgets.py::test_select_related_loop": 12 + 1,
        "test_budgets.py::test_known_sleep": 0,
        # No fixture: --perfprobe-report scopes every test.
        "test_budgets.py::test_without_the_fixture": 1,
    }
    assert {s["kind"] for s in report["scopes"]} == {"test"}


def test_queries_are_listed_by_shape_with_their_lines(
    report: dict[str, Any], budget_run: BudgetRun
) -> None:
    """The product count ran twice from one line and once from another."""
    (shape,) = [
        q
        for q in report["queries"]["by_fingerprint"]
        if q["fingerprint"] == 'SELECT COUNT(*) AS "__count" FROM "shop_product"'
    ]
    assert shape["count"] == 3
    assert {site["call_site"]: site["count"] for site in shape["call_sites"]} == {
        budget_run.site("# query one"): 2,
        budget_run.site("# unscoped query"): 1,
    }


def test_the_n_plus_one_is_reported_in_its_test(
    report: dict[str, Any], budget_run: BudgetRun
) -> None:
    """The lazy loop's N+1 names its test, its line and Order.customer."""
    lazy = [f for f in report["n_plus_one"]["aggregated"] if f["lazy_load"]]
    (finding,) = lazy
    assert finding["call_site"] == budget_run.site("# lazy load")
    assert finding["count"] == 6
    assert finding["scopes"] == ["test_budgets.py::test_lazy_loop"]
    assert (finding["lazy_load"]["model"], finding["lazy_load"]["field"]) == (
        "Order",
        "customer",
    )


def test_creating_the_test_database_is_not_in_the_report(
    report: dict[str, Any],
) -> None:
    """Migrations run by pytest-django leave no CREATE TABLE in the report."""
    shapes = [q["fingerprint"] for q in report["queries"]["by_fingerprint"]]
    assert shapes
    assert not [s for s in shapes if s.upper().startswith("CREATE")]


def finish(target: Path, exitstatus: pytest.ExitCode) -> tuple[SessionReport, Any]:
    """End a stand-in session of ``exitstatus`` with a report to ``target``."""
    session: Any = SimpleNamespace(exitstatus=exitstatus)
    plugin = SessionReport(target)
    plugin.pytest_sessionfinish(session)
    return plugin, session


def test_a_fault_building_the_report_is_one_line_and_logged(
    tmp_path: Path,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in the report builder fails the session with exit 4, not a traceback."""

    def broken(**options: Any) -> None:
        raise RuntimeError("builder bug")

    monkeypatch.setattr(fresh_monitor, "generate_report", broken)
    plugin, session = finish(tmp_path / "r.json", pytest.ExitCode.OK)

    assert plugin.outcome == (
        "perfprobe: the report could not be built: RuntimeError('builder bug')"
    )
    assert session.exitstatus == pytest.ExitCode.USAGE_ERROR
    assert [r.name for r in caplog.records] == ["perfprobe.pytest"]
    assert not (tmp_path / "r.json").exists()


def test_failed_tests_keep_their_exit_status_when_the_report_fails(
    tmp_path: Path,
) -> None:
    """Exit status 1 for failed tests is not replaced by the report's 4."""
    plugin, session = finish(tmp_path / "gone" / "r.json", pytest.ExitCode.TESTS_FAILED)
    assert plugin.outcome is not None
    assert plugin.outcome.startswith("perfprobe: cannot write the report to ")
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED


# -- refusals ---------------------------------------------------------------------


def one_error_line(result: pytest.RunResult) -> str:
    """Return the single ERROR line of a run that failed on its command line."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    (line,) = [line for line in result.stderr.lines if line.startswith("ERROR")]
    return line


@pytest.mark.parametrize("target", ["/dev/full", "folder"])
def test_a_full_device_or_a_folder_is_a_one_line_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """/dev/full (a disk that is always full) or a folder stops pytest at once.

    No test runs, nothing is written, and the folder stays empty.
    """
    isolate(pytester, monkeypatch)
    folder = pytester.mkdir("folder")
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError\n")

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", target, timeout=TIMEOUT_S
    )

    line = one_error_line(result)
    assert line.startswith(f"ERROR: --perfprobe-report {target}: ")
    assert line.endswith(ACCEPTED)
    assert ("it is a folder" in line) == (target == "folder")
    assert ("not a regular file" in line) == (target == "/dev/full")
    result.stdout.no_fnmatch_line("*test_never*")
    assert list(folder.iterdir()) == []


def test_a_bad_path_is_a_one_line_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report path in a folder that does not exist stops pytest at once."""
    isolate(pytester, monkeypatch)
    missing = pytester.path / "missing"

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", "missing/report.json", timeout=TIMEOUT_S
    )

    assert one_error_line(result) == (
        "ERROR: --perfprobe-report missing/report.json: the folder "
        f"{missing} does not exist; {ACCEPTED}"
    )


def test_a_relative_path_is_taken_from_the_base_folder(tmp_path: Path) -> None:
    """report.json under a base folder becomes that folder's file."""
    assert report_target("report.json", tmp_path) == tmp_path / "report.json"
    assert report_target(str(tmp_path / "r.json"), Path("/")) == tmp_path / "r.json"


def test_an_existing_report_file_is_accepted(tmp_path: Path) -> None:
    """A regular file already at the path is fine: it is replaced at the end."""
    (tmp_path / "report.json").write_text("{}", encoding="utf-8")
    assert report_target("report.json", tmp_path) == tmp_path / "report.json"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_takes_no_new_file_is_refused_up_front() -> None:
    """/proc refuses new files even to root, whom os.access lets through."""
    with pytest.raises(pytest.UsageError) as caught:
        report_target("/proc/report.json", Path("/"))
    message = str(caught.value)
    assert message.startswith("--perfprobe-report /proc/report.json: ")
    assert message.endswith(ACCEPTED)
    assert "\n" not in message


def test_checking_the_folder_leaves_it_as_it_was(tmp_path: Path) -> None:
    """The up-front check neither creates the report nor leaves a file behind."""
    (tmp_path / "old.json").write_bytes(b'{"kept": true}')
    report_target("report.json", tmp_path)
    report_target("old.json", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert (tmp_path / "old.json").read_bytes() == b'{"kept": true}'


def test_a_folder_as_the_report_path_is_refused(tmp_path: Path) -> None:
    """Naming a folder instead of a file is a usage error."""
    with pytest.raises(pytest.UsageError) as caught:
        report_target(str(tmp_path), Path("/"))
    assert str(caught.value) == (
        f"--perfprobe-report {tmp_path}: it is a folder; {ACCEPTED}"
    )


def test_a_fifo_as_the_report_path_is_refused(tmp_path: Path) -> None:
    """A path that is not a regular file is refused, not replaced."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(pytest.UsageError) as caught:
        report_target("pipe", tmp_path)
    assert str(caught.value) == (
        f"--perfprobe-report pipe: cannot write the report to {fifo}: "
        f"it is not a regular file; {ACCEPTED}"
    )
    assert fifo.exists()


@pytest.mark.parametrize(
    ("numprocesses", "is_worker"), [(2, False), ("auto", False), (None, True)]
)
def test_a_session_spread_over_xdist_workers_is_refused(
    numprocesses: object, is_worker: bool
) -> None:
    """With -n, or in an xdist worker, the report option is a usage error."""
    with pytest.raises(pytest.UsageError, match="cannot merge the reports"):
        refuse_distribution(numprocesses, is_worker)


@pytest.mark.parametrize("numprocesses", [None, 0])
def test_a_session_in_one_process_may_write_a_report(numprocesses: object) -> None:
    """Without xdist (or with -n 0) nothing is refused."""
    refuse_distribution(numprocesses, False)


@pytest.mark.parametrize("raw", ["", "  "])
def test_an_empty_path_is_refused(raw: str, tmp_path: Path) -> None:
    """An empty value names the option and what it expects."""
    with pytest.raises(pytest.UsageError, match=r"^--perfprobe-report is empty; "):
        report_target(raw, tmp_path)


def test_without_perfprobe_installed_the_session_stops_before_the_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django set up without perfprobe is a usage error naming INSTALLED_APPS."""
    django_project(pytester, monkeypatch, apps=["apps.shop"])
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", "report.json", timeout=TIMEOUT_S
    )

    assert one_error_line(result) == (
        "ERROR: --perfprobe-report: 'perfprobe' is not in INSTALLED_APPS, "
        "so no query is recorded"
    )
    result.stdout.no_fnmatch_line("*test_plain*")
    assert not (pytester.path / "report.json").exists()


def test_a_report_that_cannot_be_written_at_the_end_fails_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's folder removed during the run gives one line and exit 4."""
    django_project(pytester, monkeypatch)
    folder = pytester.mkdir("out")
    pytester.makepyfile(
        test_remove=f"def test_remove():\n    __import__('os').rmdir({str(folder)!r})\n"
    )

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", "out/report.json", timeout=TIMEOUT_S
    )

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [f"perfprobe: cannot write the report to {folder / 'report.json'}: *"]
    )
    assert "Traceback" not in result.stdout.str()


# A conftest that breaks the JSON renderer inside perfprobe for the sub-run.
_BROKEN_RENDERER = """\
import perfprobe.report.jsonio as jsonio


def _broken(*args, **kwargs):
    raise RuntimeError("injected renderer fault")


jsonio.finite_json_or_raise = _broken
"""


def test_fault_renderer_failure_in_the_session_report_keeps_the_outcomes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken renderer costs the report only: outcomes, status and old file kept."""
    django_project(pytester, monkeypatch)
    pytester.makeconftest(_BROKEN_RENDERER)
    pytester.makepyfile(
        test_two="def test_passes():\n    pass\n\n\n"
        "def test_fails():\n    raise AssertionError('the test itself')\n"
    )
    old = pytester.path / "report.json"
    old.write_bytes(b'{"old": "report"}\n')

    result = pytester.runpytest_subprocess(
        "--perfprobe-report", "report.json", timeout=TIMEOUT_S
    )

    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["perfprobe: the report could not be built: *injected renderer fault*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert old.read_bytes() == b'{"old": "report"}\n'
    assert sorted(p.name for p in pytester.path.glob(".pp-*")) == []
