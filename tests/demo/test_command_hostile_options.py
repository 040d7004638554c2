"""Hostile and odd values for each option of the demo and perfprobe_compare.

A representative set goes through the real ``manage.py`` in a child process,
with arguments as raw bytes (non-UTF-8 included); the full matrix goes
through ``call_command``. Each bad value must give one line naming the
option, exit status 2 and no traceback, before anything runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.debugging.options import MAX_SEED
from apps.debugging.performance_demo import PerformanceDemo
from tests.perfprobe.compare_factories import report, run, write

SUBPROCESS_TIMEOUT_S = 60
# Every kind of odd text an option can carry from a shell.
NOT_UTF8 = "\udcff\udcfe"  # the bytes ff fe, as Python decodes argv
HUGE_INT = "9" * 5000  # past int()'s digit limit
TOO_LONG_NAME = "a" * 300 + ".json"  # past NAME_MAX
ODD_TEXT = ["", " ", "\x00", NOT_UTF8, "\u202e", "nan", "-inf", "1e999", HUGE_INT]

#: Option -> values it must refuse (each with the name of the option in the
#: message). Values an option legitimately accepts are left out: "nan" is a
#: fine file name.
BAD_VALUES: dict[str, list[str]] = {
    "--time-scale": [*ODD_TEXT, "0", "-0", "-1", "10.000001", "1e-400", "0x10"],
    "--seed": [*ODD_TEXT, "-1", str(MAX_SEED + 1), "1.5", "4e3", "0x10"],
    "--scenarios": ["", " ", ",,", "\x00", NOT_UTF8, "nan", "x" * 1000, "load,nope"],
    "--repeat": [*ODD_TEXT, "0", "-1", "101", "1.0", "2e1"],
    "--tolerance": [*ODD_TEXT, "-1", "-0.1%", "10%%", "%"],
    "--fail-on": ["", " ", "\x00", NOT_UTF8, "REGRESSION", "critical;regression"],
    "--clients": [*ODD_TEXT, "0", "-4", "65", "2.5"],
    "--requests": [*ODD_TEXT, "0", "-1", "100001", "1e5"],
    "--load-time-limit": [*ODD_TEXT, "0", "-0", "-5", "3600.5", "inf"],
    "--output-file": [
        "",
        " ",
        "\x00",
        "/dev/null",
        TOO_LONG_NAME,
        "/nonexistent/r.json",
    ],
    "--html": ["", "\x00", "/dev/null", TOO_LONG_NAME, "/nonexistent/r.html"],
    "--html-file": ["", "\x00", "/dev/null", TOO_LONG_NAME],
}


@pytest.fixture
def bad_reports(tmp_path: Path) -> dict[str, str]:
    """Write files that are not usable reports, and return their paths by kind."""
    files = {
        "not json": b"{not json",
        "not utf-8": b'{"schema_version": "1.0", "title": "\xff\xfe"}',
        "nan constant": b'{"schema_version": "1.0", "x": NaN}',
        "infinity constant": b'{"schema_version": "1.0", "x": -Infinity}',
        "huge integer": b'{"schema_version": "1.0", "x": ' + b"9" * 5000 + b"}",
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "empty": b"",
        "a list": b"[]",
        "wrong major": b'{"schema_version": "2.0"}',
    }
    paths = {}
    for kind, content in files.items():
        path = tmp_path / (kind.replace(" ", "-") + ".json")
        path.write_bytes(content)
        paths[kind] = str(path)
    overflow = json.dumps(report(run(operations={"checkout": (0.1, 0.2)})))
    (tmp_path / "overflow.json").write_text(overflow.replace("0.1", "1e400", 1))
    paths["a number that overflows"] = str(tmp_path / "overflow.json")
    paths["a folder"] = str(tmp_path)
    paths["a device"] = "/dev/null"
    paths["missing"] = str(tmp_path / "missing.json")
    paths["NUL in the name"] = str(tmp_path / "a\x00b.json")
    paths["not UTF-8 name"] = str(tmp_path / f"{NOT_UTF8}.json")
    return paths


def refusal(command: str, *args: str) -> CommandError:
    """Run ``command`` in-process, expect a CommandError and return it."""
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, stdout=StringIO(), stderr=StringIO())
    return caught.value


def assert_one_line_naming(error: CommandError, option: str) -> None:
    """Assert ``error`` is one printable line naming ``option``, with status 2."""
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert option in message
    assert error.returncode == 2
    # The message can be written to any UTF-8 stream.
    message.encode("utf-8")


def short_id(value: object) -> str:
    """Return a test id for ``value`` that stays short for huge values."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} chars)"


CASES = [(option, value) for option, values in BAD_VALUES.items() for value in values]


@pytest.mark.parametrize(("option", "value"), CASES, ids=short_id)
def test_hostile_option_values_are_one_line_refusals(
    option: str, value: str, nothing_may_run: list[str]
) -> None:
    """Each odd value of each demo option is refused in one line, before a run."""
    # argparse takes "-inf" for an option name: "--x=-inf" is how a shell
    # user passes it, so it is passed so here too.
    args = [f"{option}={value}"] if value.startswith("-") else [option, value]
    if option in {"--clients", "--requests", "--load-time-limit"}:
        args.append("--load")
    error = refusal("run_performance_demo", *args)
    assert_one_line_naming(error, option)
    assert nothing_may_run == []


@pytest.mark.parametrize(
    "kind",
    [
        "not json",
        "not utf-8",
        "nan constant",
        "infinity constant",
        "huge integer",
        "deep nesting",
        "empty",
        "a list",
        "wrong major",
        "a number that overflows",
        "a folder",
        "a device",
        "missing",
        "NUL in the name",
        "not UTF-8 name",
    ],
)
def test_hostile_report_files_are_one_line_refusals(
    kind: str, bad_reports: dict[str, str], nothing_may_run: list[str], tmp_path: Path
) -> None:
    """A bad --baseline, OLD or NEW file is refused in one line by both commands."""
    good = write(tmp_path / "good.json", report(run(operations={"a": (0.1, 0.2)})))
    bad = bad_reports[kind]
    assert_one_line_naming(
        refusal("run_performance_demo", "--baseline", bad), "--baseline"
    )
    assert_one_line_naming(refusal("perfprobe_compare", bad, good), "OLD")
    assert_one_line_naming(refusal("perfprobe_compare", good, bad), "NEW")
    assert nothing_may_run == []


@pytest.mark.parametrize("option", ["--tolerance", "--fail-on"])
def test_hostile_compare_option_values_are_one_line_refusals(
    option: str, tmp_path: Path
) -> None:
    """perfprobe_compare refuses the same odd --tolerance and --fail-on values."""
    good = write(tmp_path / "good.json", report(run(operations={"a": (0.1, 0.2)})))
    for value in BAD_VALUES[option]:
        error = refusal("perfprobe_compare", good, good, f"{option}={value}")
        assert_one_line_naming(error, option)


# -- through the real manage.py, arguments as raw bytes -----------------------


def manage(tmp_path: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run ``manage.py`` with byte arguments against a throw-away SQLite file."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PERFPROBE_DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    return subprocess.run(
        [sys.executable, b"manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


CLI_CASES = [
    (b"--time-scale", b"\xff\xfe"),
    (b"--seed", HUGE_INT.encode()),
    (b"--scenarios", b"database_operations,\xc3("),
    (b"--output-file", b""),
    (b"--output-file", TOO_LONG_NAME.encode()),
    (b"--load-time-limit", b"nan"),
    (b"--requests", b"-1"),
    (b"--baseline", b"/tmp/\xff/missing.json"),
]


@pytest.mark.parametrize(("option", "value"), CLI_CASES, ids=short_id)
def test_hostile_cli_arguments_print_one_line_and_exit_2(
    tmp_path: Path, option: bytes, value: bytes
) -> None:
    """From a shell, odd bytes in an option give one stderr line and status 2."""
    result = manage(tmp_path, b"run_performance_demo", option, value)
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    assert result.returncode == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("CommandError: " + option.decode()), lines
    assert result.stdout == b""


def test_hostile_cli_compare_of_non_utf8_names_exits_2(tmp_path: Path) -> None:
    """perfprobe_compare given names that are not UTF-8 says which in one line."""
    result = manage(tmp_path, b"perfprobe_compare", b"\xff.json", b"\xfe.json")
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    assert result.returncode == 2
    assert lines == [
        "CommandError: OLD.json '\\udcff.json' cannot be read: "
        "No such file or directory."
    ]


# -- faults found, each fixed for its whole kind -------------------------------


def test_lone_surrogate_report_text_compares_and_prints(tmp_path: Path) -> None:
    """A report whose names hold escaped lone surrogates compares from a shell.

    Such a report is valid JSON (Python writes lone surrogates as escapes);
    printing its names used to end in UnicodeEncodeError.
    """
    old = report(run(operations={"checkout\ud800": (0.1, 0.2), "\udcff": (0.1, 0.2)}))
    old_path = write(tmp_path / "old.json", old)
    assert "\\ud800" in Path(old_path).read_text("ascii")
    result = manage(
        tmp_path, b"perfprobe_compare", old_path.encode(), old_path.encode()
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"checkout\\ud800" in result.stdout


@pytest.mark.parametrize("value", [TOO_LONG_NAME, "a\x00b.json", f"{'d' * 300}/r.json"])
def test_output_path_os_error_is_a_command_error(
    value: str, tmp_path: Path, nothing_may_run: list[str]
) -> None:
    """A path the file system refuses to look at is one line, not a traceback."""
    for option in ("--output-file", "--html"):
        error = refusal("run_performance_demo", option, str(tmp_path / value))
        assert_one_line_naming(error, option)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [-5, 2**40])
def test_out_of_range_seed_memory_job_still_runs(seed: int) -> None:
    """Any seed from Python keeps the memory job's order ids in their 32 bits."""
    demo = PerformanceDemo(time_scale=0.02, seed=seed)
    data = demo.run_full_demo(scenarios=["memory_intensive"])
    assert [s["status"] for s in data["scenarios"]] == ["ok"]
