"""Run the performance demo's scenarios and print the report."""

from __future__ import annotations

import gc
import sys
from typing import Any

from django.core.management.base import CommandParser
from django.db import connections

from apps.debugging.arguments import add_demo_arguments
from apps.debugging.demo_run import run_demo
from apps.debugging.options import read_options
from apps.debugging.outputs import write_outputs
from perfprobe.management.base import PerfprobeCommand

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
        console = self.console(options)
        report = run_demo(console, demo_options)
        write_outputs(console, report, demo_options)
