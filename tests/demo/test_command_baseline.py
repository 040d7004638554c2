"""Test run_performance_demo's --repeat, --baseline, --tolerance and --fail-on."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from perfprobe.report.schema import validate_report
from tests.demo.cli import run_manage
from tests.perfprobe.compare_factories import report, run, write

COMMAND = "run_performance_demo"
SCALE = 0.02
FAST = ["--scenarios", "database_operations", "--time-scale", str(SCALE)]
# The documented figures of database_operations: 1 + 1 + 10 queries, the
# ten of them an N+1 from one line.
DB_QUERIES = 12
N_PLUS_ONE_QUERIES = 10


def run_demo(*args: str) -> str:
    """Run the demo in-process and return what it printed."""
    stdout = StringIO()
    call_command(COMMAND, *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def _slow_baseline(tmp_path: Path, queries: int) -> str:
    """Write a one-run baseline where database_operations took 100 s."""
    data = report(
        run(scenarios={"database_operations": (100.0, queries)}, queries=queries),
        time_scale=SCALE,
    )
    return write(tmp_path / "baseline.json", data)


# -- bad options: status 2, before anything runs ---------------------------------


BAD = [
    (["--repeat", "0"], ["--repeat", "'0'", "1 to 100"]),
    (["--repeat=-1"], ["--repeat", "'-1'"]),
    (["--repeat", "abc"], ["--repeat", "'abc'"]),
    (["--repeat", "1.5"], ["--repeat", "'1.5'"]),
    (["--repeat", "101"], ["--repeat", "'101'"]),
    (["--tolerance", "abc"], ["--tolerance", "'abc'", "percentage"]),
    (["--tolerance=-5"], ["--tolerance", "'-5'"]),
    (["--tolerance", "nan"], ["--tolerance", "'nan'"]),
    (["--tolerance", "5"], ["--tolerance needs --baseline"]),
    (
        ["--fail-on", "nope"],
        ["--fail-on", "'nope'", "regression, queries or critical"],
    ),
    (["--fail-on", "regression"], ["--fail-on regression needs --baseline"]),
    (["--baseline", "/nonexistent/report.json"], ["--baseline", "cannot be read"]),
]


@pytest.mark.parametrize(("args", "fragments"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_baseline_options_are_refused_first(
    args: list[str], fragments: list[str], nothing_may_run: list[str]
) -> None:
    """Each bad value is one line naming the option and value, status 2."""
    with pytest.raises(CommandError) as caught:
        run_demo(*args)

    message = str(caught.value)
    assert caught.value.returncode == 2
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert nothing_may_run == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{broken", "is not JSON"), ('{"a": 1}', "is not a perfprobe report")],
)
def test_a_bad_baseline_file_is_refused_first(
    tmp_path: Path, content: str, fragment: str, nothing_may_run: list[str]
) -> None:
    """A baseline that is not a report stops the command before any scenario."""
    target = tmp_path / "baseline.json"
    target.write_text(content)

    with pytest.raises(CommandError) as caught:
        run_demo("--baseline", str(target))

    assert caught.value.returncode == 2
    assert f"--baseline {str(target)!r} {fragment}" in str(caught.value)
    assert nothing_may_run == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--html"], "--html '{path}' is the --baseline report"),
        (["--html-file"], "--html-file '{path}' is the --baseline report"),
        (
            ["--fail-on", "queries", "--output-file"],
            "--output-file '{path}' is the --baseline report: with --fail-on",
        ),
    ],
    ids=["html", "html-file", "output-file with fail-on"],
)
def test_an_output_over_the_baseline_is_refused_first(
    tmp_path: Path, args: list[str], fragment: str, nothing_may_run: list[str]
) -> None:
    """No output may replace the baseline (through a link too); it is unchanged.

    An HTML page over it would lose the saved report; a JSON report over it
    with --fail-on would let a failing run replace what it failed against.
    """
    baseline = _slow_baseline(tmp_path, DB_QUERIES)
    before = Path(baseline).read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(baseline)

    for path in (baseline, str(link)):
        with pytest.raises(CommandError) as caught:
            run_demo("--baseline", baseline, *args, path)

        assert caught.value.returncode == 2
        assert fragment.format(path=path) in str(caught.value)
    assert Path(baseline).read_bytes() == before
    assert nothing_may_run == []


def test_a_rolling_baseline_without_a_gate_is_allowed(
    tmp_path: Path, nothing_may_run: list[str]
) -> None:
    """--output-file naming the --baseline with no --fail-on passes the checks."""
    baseline = _slow_baseline(tmp_path, DB_QUERIES)

    with pytest.raises(CommandError, match="PerformanceDemo"):
        run_demo("--baseline", baseline, "--output-file", baseline)
    assert nothing_may_run == ["prepare"]


def test_a_baseline_in_the_home_folder_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_may_run: list[str]
) -> None:
    """``--baseline=~/b.json`` reads the file ``--output-file=~/b.json`` wrote.

    The shell leaves the tilde after ``=`` as typed: the demo's outputs took
    it for the home folder, the baseline was looked for in a folder ``~``.
    """
    _slow_baseline(tmp_path, DB_QUERIES)
    monkeypatch.setenv("HOME", str(tmp_path))

    with pytest.raises(CommandError, match="PerformanceDemo"):
        run_demo("--baseline=~/baseline.json")
    assert nothing_may_run == ["prepare"]
    with pytest.raises(CommandError, match="is the --baseline report"):
        run_demo("--baseline=~/baseline.json", "--html=~/baseline.json")


def test_other_errors_of_the_demo_also_exit_with_2(nothing_may_run: list[str]) -> None:
    """The demo's own option errors share status 2, leaving 1 to the gate."""
    with pytest.raises(CommandError) as caught:
        run_demo("--time-scale", "abc")
    assert caught.value.returncode == 2


# -- real runs ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_real_repeated_runs_compare(tmp_path: Path) -> None:
    """Run the demo twice with --repeat 2; the second compares with the first."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"

    run_demo(*FAST, "--repeat", "2", "--output-file", str(first))
    output = run_demo(
        *FAST, "--repeat", "2", "--baseline", str(first), "--output-file", str(second)
    )

    for path in (first, second):
        data = json.loads(path.read_text())
        validate_report(data)
        assert len(data["runs"]) == 2
        for record in data["runs"]:
            (scenario,) = record["scenarios"]
            assert scenario["query_count"] == DB_QUERIES
            (finding,) = record["n_plus_one"]
            assert finding["count"] == N_PLUS_ONE_QUERIES
    assert "Run 2 of 2" in output
    assert "Scenario durations over 2 runs:" in output
    assert "Runs: old 2, new 2" in output
    # Timings on a shared machine vary; the counts must not.
    assert "N+1 findings: all 4 counts the same." in output
    for name in ("database_operations", "db.slow_query", "db.n_plus_one_loop"):
        assert name in output.split("Comparison:")[1]


@pytest.mark.django_db(transaction=True)
def test_a_single_run_keeps_the_old_report_shape(tmp_path: Path) -> None:
    """Without --repeat the JSON has no ``runs``, as before."""
    target = tmp_path / "report.json"
    run_demo(*FAST, "--output-file", str(target))
    assert "runs" not in json.loads(target.read_text())


@pytest.mark.django_db(transaction=True)
def test_more_queries_than_the_baseline_fail_the_gate(tmp_path: Path) -> None:
    """A baseline of 11 queries: the demo's 12 fail --fail-on regression (1).

    The report is still written before the command fails.
    """
    baseline = _slow_baseline(tmp_path, DB_QUERIES - 1)
    target = tmp_path / "new.json"
    stdout = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            COMMAND,
            *FAST,
            "--baseline",
            baseline,
            "--fail-on",
            "regression",
            "--output-file",
            str(target),
            stdout=stdout,
        )

    assert caught.value.returncode == 1
    assert "--fail-on regression" in str(caught.value)
    assert (
        f"scenario database_operations: 11 -> {DB_QUERIES} queries" in stdout.getvalue()
    )
    # 100 s in the baseline, but one run on each side: too few to judge.
    assert "too few runs (1)" in stdout.getvalue()
    validate_report(json.loads(target.read_text()))


@pytest.mark.django_db(transaction=True)
def test_fail_on_critical_follows_the_recommendations() -> None:
    """The HTTP 500 of error_scenarios is critical; database_operations has none."""
    scale = ["--time-scale", str(SCALE)]
    passed = run_demo(
        "--scenarios", "database_operations", *scale, "--fail-on", "critical"
    )
    assert "Gate passed (--fail-on critical)." in passed

    with pytest.raises(CommandError) as caught:
        run_demo("--scenarios", "error_scenarios", *scale, "--fail-on", "critical")
    assert caught.value.returncode == 1
    assert "--fail-on critical" in str(caught.value)


# -- the real command line ---------------------------------------------------------


def test_cli_exit_statuses_of_the_gate(tmp_path: Path) -> None:
    """From manage.py: 1 when the gate fails, 2 for a bad option; no traceback."""
    baseline = _slow_baseline(tmp_path, DB_QUERIES - 1)
    migrated = run_manage(tmp_path, "migrate", "--noinput", "--verbosity", "0")

    failed = run_manage(
        tmp_path, COMMAND, *FAST, "--baseline", baseline, "--fail-on", "regression"
    )
    bad = run_manage(tmp_path, COMMAND, "--repeat", "zero")

    assert migrated.returncode == 0, migrated.stderr
    assert failed.returncode == 1, failed.stderr
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith("GateFailed: --fail-on regression:")
    assert bad.returncode == 2
    assert "Traceback" not in failed.stderr + bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "CommandError: --repeat must be a whole number from 1 to 100, not 'zero'."
    ]


def test_help_documents_the_baseline_options(tmp_path: Path) -> None:
    """`manage.py help` lists the new options of both commands."""
    demo = run_manage(tmp_path, "help", COMMAND)
    compare = run_manage(tmp_path, "help", "perfprobe_compare")

    assert demo.returncode == 0 and compare.returncode == 0
    for option in ("--repeat", "--baseline", "--tolerance", "--fail-on"):
        assert option in demo.stdout
    for text in ("OLD.json", "NEW.json", "--tolerance", "--fail-on", "Exit status"):
        assert text in compare.stdout
