"""Tests for perfprobe.management.base: exact options and one-line usage errors."""

from __future__ import annotations

from importlib import metadata
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from perfprobe.management.base import guess_options, unknown_arguments_message
from tests.demo.cli import manage

COMPARE_OPTIONS = ["--fail-on", "--help", "--tolerance", "--traceback", "--version"]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("--tol", ["--tolerance"]),  # the beginning argparse used to accept
        ("--tolerence", ["--tolerance"]),  # a typo
        ("--fail_on", ["--fail-on"]),
        ("--zzz", []),
        # perfprobe_report's --html, given to perfprobe_compare: not a typo
        # of --help, which the answer names anyway.
        ("--html", []),
        ("--he", ["--help"]),
        # Case is ignored in the guess, not in the option.
        ("--TOLERANCE", ["--tolerance"]),
        ("--Tol", ["--tolerance"]),
        ("--FAIL-ONN", ["--fail-on"]),
    ],
)
def test_guess_options_names_what_was_meant(typed: str, meant: list[str]) -> None:
    """A beginning or a misspelling of an option is matched to the option."""
    assert guess_options(typed, COMPARE_OPTIONS) == meant


def test_unknown_arguments_message_names_each_unknown_option() -> None:
    """Several unknown options are each named, with their guesses."""
    message = unknown_arguments_message(["--tol=5", "--zzz", "x.json"], COMPARE_OPTIONS)
    assert message == "unknown options --tol (did you mean --tolerance?), --zzz"


def test_an_abbreviated_option_is_refused_in_process(tmp_path) -> None:
    """``--tol 5`` is not ``--tolerance 5`` any more: call_command refuses it."""
    with pytest.raises(CommandError) as caught:
        call_command(
            "perfprobe_compare",
            "old.json",
            "new.json",
            "--tol",
            "5",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert str(caught.value) == (
        "Error: unknown option --tol; did you mean --tolerance?"
    )
    assert caught.value.returncode == 2


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["a.json", "b.json", "--tol", "5"],
            "unknown option --tol; did you mean --tolerance?",
        ),
        (
            ["a.json", "b.json", "--fail_on", "regression"],
            "unknown option --fail_on; did you mean --fail-on?",
        ),
        (["a.json"], "the following arguments are required: NEW.json"),
    ],
)
def test_cli_usage_error_is_one_line_with_status_2(args: list[str], line: str) -> None:
    """The real command line prints one error line, not argparse's usage block."""
    result = manage("perfprobe_compare", *args)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"manage.py perfprobe_compare: error: {line}"]
    assert result.stdout == ""


def test_cli_version_names_perfprobe_and_django() -> None:
    """``--version`` prints the installed perfprobe's version, then Django's."""
    # The versions the installed distributions declare, not the code's own.
    expected = (
        f"perfprobe {metadata.version('django-perfprobe')} "
        f"(Django {metadata.version('django')})"
    )

    result = manage("perfprobe_compare", "--version")

    assert result.returncode == 0
    assert result.stdout.splitlines() == [expected]


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        (["--", "x"], "unexpected argument 'x'; --help lists what the command takes"),
        (
            ["--", "--zzz"],
            "unexpected argument '--zzz'; --help lists what the command takes",
        ),
    ],
)
def test_what_follows_a_double_dash_is_no_option(
    extras: list[str], message: str
) -> None:
    """``--`` ends the options: neither it nor what follows is an unknown option."""
    assert unknown_arguments_message(extras, COMPARE_OPTIONS) == message


def test_a_lone_double_dash_is_no_usage_error() -> None:
    """``--`` with nothing after it, on a command without positionals, is accepted."""
    result = manage("run_performance_demo", "--scenarios", "no-such-scenario", "--")

    assert "unknown option" not in result.stderr
    assert "no-such-scenario" in result.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["a.json", "b.json", "--", "--tolerance"],
            "unexpected argument '--tolerance'; --help lists what the command takes",
        ),
        (
            ["a.json", "--", "b.json", "--zzz"],
            "unexpected argument '--zzz'; --help lists what the command takes",
        ),
        (
            ["a.json", "b.json", "--tol", "--", "--zzz"],
            "unknown option --tol; did you mean --tolerance?",
        ),
    ],
)
def test_a_double_dash_after_positionals_ends_the_options_too(
    args: list[str], line: str
) -> None:
    """argparse drops the ``--`` of a command with positionals; it still counts.

    What followed it was named an unknown option, a real one with itself as
    the guess: "unknown option --tolerance; did you mean --tolerance?".
    """
    with pytest.raises(CommandError) as caught:
        call_command("perfprobe_compare", *args, stdout=StringIO(), stderr=StringIO())
    assert str(caught.value) == f"Error: {line}"
    assert caught.value.returncode == 2


def test_a_double_dash_on_the_command_line_ends_the_options() -> None:
    """The real command line: one line naming the stray argument, status 2."""
    result = manage("perfprobe_report", "report.json", "--", "--html")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "manage.py perfprobe_report: error: unexpected argument '--html'; "
        "--help lists what the command takes"
    ]
