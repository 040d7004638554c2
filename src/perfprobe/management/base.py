"""Give perfprobe's commands exact options, one-line usage errors, a version."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn, cast

import django
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from .. import __version__
from ..compare.cli import with_error_status
from ..compare.gate import EXIT_ERROR
from ..report.fmt import shorten
from ..report.terminal import make_console

#: More options than this starting with what was typed is no useful guess.
MAX_GUESSES = 3
#: A fault's message is cut to this many characters in its one line.
FAULT_MESSAGE_CHARS = 200


class ExactOptionParser(CommandParser):
    """A ``CommandParser`` whose usage errors are one line, naming the fault.

    argparse prints its whole usage block before the error; on a command
    with a dozen options the one line that matters scrolls out of sight.
    An unknown option is named with the closest real ones.
    """

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> Any:
        """Parse ``args``; an argument no option takes is a usage error."""
        # Django's CommandParser.parse_args adds only a check for commands
        # with a missing_args_message, which perfprobe's commands have not.
        parsed, extras = self.parse_known_args(args, namespace)
        extras = _with_double_dash(extras, sys.argv[1:] if args is None else args)
        if extras == ["--"]:
            # The end of the options with nothing after it: argparse leaves
            # it over when the command takes no positional argument.
            extras = []
        if extras:
            self.error(unknown_arguments_message(extras, self.long_options()))
        return parsed

    def long_options(self) -> list[str]:
        """Return every ``--option`` this parser accepts, sorted."""
        return sorted(
            option for option in self._option_string_actions if option.startswith("--")
        )

    def error(self, message: str) -> NoReturn:
        """Exit with ``EXIT_ERROR`` and ``message`` in one stderr line.

        Called through ``call_command``, raise ``CommandError`` instead, as
        Django's own parser does.
        """
        if self.called_from_command_line:
            self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}", returncode=EXIT_ERROR)


def _with_double_dash(extras: list[str], args: Sequence[str]) -> list[str]:
    """Return ``extras`` with the ``--`` of ``args`` put back where it stood.

    On a command with positional arguments argparse drops the ``--`` it
    reads, and what followed it was named an unknown option: ``-- --html``
    read "unknown option --html; did you mean --html?". The extras keep
    the order of ``args``: those found in turn among the arguments before
    ``--`` came before it.
    """
    if "--" not in args or "--" in extras:
        return extras
    before = 0
    for arg in args[: list(args).index("--")]:
        if before < len(extras) and extras[before] == arg:
            before += 1
    if before == len(extras):
        return extras
    return [*extras[:before], "--", *extras[before:]]


def unknown_arguments_message(extras: Sequence[str], options: Sequence[str]) -> str:
    """Return the sentence for ``extras``, the arguments no option took.

    Each unknown option is named with the options it may have meant.
    """
    # After "--" nothing is an option: those are stray arguments.
    cut = extras.index("--") if "--" in extras else len(extras)
    options_part = extras[:cut]
    unknown = [arg.split("=", 1)[0] for arg in options_part if arg.startswith("-")]
    if not unknown:
        stray = ", ".join(repr(arg) for arg in extras if arg != "--")
        return f"unexpected argument {stray}; --help lists what the command takes"
    if len(unknown) == 1:
        (name,) = unknown
        guesses = guess_options(name, options)
        if guesses:
            return f"unknown option {name}; did you mean {' or '.join(guesses)}?"
        return f"unknown option {name}; --help lists the options"
    named = []
    for name in unknown:
        guesses = guess_options(name, options)
        named.append(
            f"{name} (did you mean {' or '.join(guesses)}?)" if guesses else name
        )
    return f"unknown options {', '.join(named)}"


def guess_options(name: str, options: Sequence[str]) -> list[str]:
    """Return the options ``name`` most likely meant, best first (maybe none).

    A beginning of an option (``--time`` for ``--time-scale``), which
    argparse used to accept silently, names every option it begins; a typo
    names the closest option by spelling, never ``--help``: an option that
    takes a value was meant (``--html`` on a command without it is no
    misspelt ``--help``), and the answer to an unknown option names
    ``--help`` anyway. Case is ignored in the guess (``--HTML`` means
    ``--html``); the options themselves stay case-sensitive.
    """
    folded = name.lower()
    if len(name) > 2:
        started = [option for option in options if option.lower().startswith(folded)]
        if 0 < len(started) <= MAX_GUESSES:
            return started
    spelt = {option.lower(): option for option in options if option != "--help"}
    close = difflib.get_close_matches(folded, list(spelt), n=1, cutoff=0.6)
    return [spelt[option] for option in close]


class PerfprobeCommand(BaseCommand):
    """Base of perfprobe's commands: exact option names, one-line usage errors.

    argparse accepts any unambiguous beginning of a long option, so
    ``--time 1`` meant ``--time-scale 1`` and would silently change meaning
    the day another option began the same way. ``--version`` names
    perfprobe's version and Django's. Every failure but a met ``--fail-on``
    exits with ``EXIT_ERROR`` (2).
    """

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Run the command; every failure but a met ``--fail-on`` exits with 2.

        A fault of the command itself (an exception that is no
        ``CommandError``) is told in one line too, naming its type, and
        exits with 2 rather than the 1 of a failed gate; ``--traceback``
        shows the whole traceback instead.
        """
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            with_error_status(exc)
            raise
        except Exception as exc:
            if options.get("traceback"):
                raise
            raise CommandError(
                f"perfprobe failed ({describe_fault(exc)}); --traceback shows where.",
                returncode=EXIT_ERROR,
            ) from exc

    def console(self, options: dict[str, Any]) -> Console:
        """Return a console on the command's own stdout, with its colour options.

        The command's stdout (a ``StringIO`` under ``call_command``), not
        ``sys.stdout``, so that tests and callers capture the output.
        """
        stream = cast(IO[str], self.stdout._out)
        return make_console(
            stream,
            color=not options.get("no_color"),
            force_color=bool(options.get("force_color")),
        )

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        """Return Django's parser for the command, with abbreviations refused."""
        # Django passes extra keyword arguments on to ArgumentParser; this is
        # its documented way to change how the parser behaves.
        kwargs.setdefault("allow_abbrev", False)
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds a CommandParser itself and takes no parser class; the
        # subclass overrides methods only and adds no state, so the instance
        # can take its class.
        parser.__class__ = ExactOptionParser
        return parser

    def get_version(self) -> str:
        """Return perfprobe's version and Django's, for ``--version``."""
        # Django's default names Django's version alone, which says nothing
        # about the perfprobe that wrote or compares a report.
        return f"perfprobe {__version__} (Django {django.get_version()})"


def describe_fault(exc: BaseException) -> str:
    """Return ``exc``'s type and message on one line of bounded length.

    A message over several lines becomes one, a huge one is cut to
    ``FAULT_MESSAGE_CHARS``, and an empty one leaves the type alone, as
    does one that cannot be made (a ``__str__`` that raises).
    """
    try:
        message = shorten(str(exc), FAULT_MESSAGE_CHARS)
    except Exception:
        message = ""
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def pick_html_option(options: dict[str, Any]) -> tuple[str, str | None]:
    """Return the HTML option given (``--html`` or its alias) and its value.

    ``--html-file`` is the option's earlier name: both may be given only
    naming the same file. The option is returned as spelt, for messages.
    """
    html, alias = options.get("html"), options.get("html_file")
    if html is not None and alias is not None and html != alias:
        raise CommandError(
            f"--html {html!r} and --html-file {alias!r} name different files; "
            "give one of them (--html-file is another name for --html).",
            returncode=EXIT_ERROR,
        )
    if alias is not None and html is None:
        return "--html-file", alias
    return "--html", html
