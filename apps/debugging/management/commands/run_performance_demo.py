"""Run the performance demo's scenarios and print the report."""

from __future__ import annotations

import gc
import sys
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from django.db import connections
from rich.console import Console

from apps.debugging.arguments import add_demo_arguments
from apps.debugging.demo_run import run_demo
from apps.debugging.options import read_options
from apps.debugging.outputs import write_outputs
from perfprobe.compare import cli as compare_cli
from perfprobe.management.base import PerfprobeCommand
from perfprobe.report.terminal import make_console

#: The exit status after Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 130


class Command(PerfprobeCommand):
    help = (
        "Run perfprobe's performance demo: database operations, API requests, "
        "concurrent workers, a memory-intensive job and error scenarios, then "
        "print a report with statistics and recommendations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_demo_arguments(parser)

    def run_from_argv(self, argv: list[str]) -> None:
        """Run from the command line, then leave the process quick to exit.

        Only ``manage.py`` calls this (``call_command`` does not), and the
        process ends right after: the interpreter's final collection would
        walk every object Django, rich and the report left behind, about
        0.1 s, to free memory the operating system takes back anyway.
        Freezing them skips that walk; the database connections are closed
        first, so nothing is left to be finalised.
        """
        try:
            super().run_from_argv(argv)
        except KeyboardInterrupt:
            # Ctrl-C is the user's choice, not a crash: one line, no
            # traceback, and the status a shell gives a command SIGINT ended.
            sys.stderr.write("Interrupted.\n")
            sys.exit(EXIT_INTERRUPTED)
        finally:
            connections.close_all()
            gc.freeze()

    def handle(self, *args: Any, **options: Any) -> None:
        # Every option is checked before the demo touches the database.
        demo_options = read_options(options)
        console = self._console(options)
        report = run_demo(console, demo_options)
        write_outputs(console, report, demo_options)

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Run the command; every failure but a met ``--fail-on`` exits with 2."""
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            compare_cli.with_error_status(exc)
            raise

    def _console(self, options: dict[str, Any]) -> Console:
        # The command's own stdout (a StringIO under call_command), not
        # sys.stdout, so that tests and callers capture the report.
        stream = cast(IO[str], self.stdout._out)
        return make_console(
            stream,
            color=not options.get("no_color"),
            force_color=bool(options.get("force_color")),
        )
