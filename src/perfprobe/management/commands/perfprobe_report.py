"""Print a saved perfprobe JSON report, and optionally write it as HTML."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.core.management.base import CommandParser

from ...compare.cli import usage_error
from ...failures import log_failure
from ...report import Report
from ...report.charts import INSTALL_HINT
from ...report.html import render_html
from ...report.jsonio import write_text_atomic
from ...report.loader import ReportLoadError, read_report
from ...report.terminal import TerminalRenderer
from ..base import PerfprobeCommand, pick_html_option

logger = logging.getLogger("perfprobe.report")


class Command(PerfprobeCommand):
    help = (
        "Print a saved perfprobe JSON report (the live report.json, "
        "report.write_json(), pytest --perfprobe-report, the demo's "
        "--output-file) as the terminal report, and with --html (or its "
        "earlier name --html-file) also write it as the HTML page. Any "
        "schema 1.x report is read, as perfprobe_compare reads it. The file "
        "is checked against perfprobe's "
        "JSON schema (needs the jsonschema package) and its recommendations "
        "are shown as stored: they are not recomputed with the current rules "
        "or settings. Exit status: 0 printed, 2 bad options or input (or a "
        "fault of the command), 141 "
        "when the reader of the output went away (| head)."
    )
    # Reading a file needs no database and no system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "report", metavar="REPORT.json", help="The saved report to show."
        )
        parser.add_argument(
            "--html",
            metavar="OUT",
            help=(
                "Also write the report as one self-contained HTML page to OUT, "
                "atomically (an existing OUT is replaced whole or left as it "
                "was; never REPORT itself); charts need matplotlib, the "
                "'report' extra."
            ),
        )
        parser.add_argument(
            "--html-file",
            metavar="OUT",
            help="Same as --html (the option's earlier name, as in the demo).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["report"]
        option, html_file = pick_html_option(options)
        if html_file is not None and not html_file.strip():
            raise usage_error(f"{option} is empty; give a file path.")
        # A leading ~ is the home folder, as in the demo's paths: the shell
        # leaves --html=~/report.html as typed. Messages quote what was typed.
        source_path = os.path.expanduser(source)
        html_path = None if html_file is None else os.path.expanduser(html_file)
        if html_path is not None and _same_file(source_path, html_path):
            # The page would replace the saved report, perhaps its only copy.
            raise usage_error(
                f"{option} {html_file!r} is the report being read; give the "
                "page a file of its own."
            )
        report = _load(source, source_path)

        # The page is written before anything is printed: a file that cannot
        # be written ends the command with its one line and no report.
        if html_file is not None and html_path is not None:
            _write_html(report, option, html_file, html_path)
        console = self.console(options)
        try:
            TerminalRenderer(console).render(report)
        except Exception as exc:
            log_failure(logger, "report-command terminal", "perfprobe failed to print")
            raise usage_error(
                f"perfprobe failed to print the report ({type(exc).__name__}); "
                "details in the perfprobe.report log."
            ) from None
        if html_file is not None:
            console.print(
                f"HTML report written to {html_file}", highlight=False, markup=False
            )


def _same_file(path: str, other: str) -> bool:
    # Through links too; either missing (or unnameable) is not the same.
    try:
        return os.path.samefile(path, other)
    except (OSError, ValueError):
        return False


def _load(source: str, path: str) -> Report:
    try:
        return read_report(path)
    except ReportLoadError as exc:
        # Named as the usage line names it.
        raise usage_error(f"REPORT.json {source!r} {exc}.") from None
    except ImportError:
        raise usage_error(
            "perfprobe_report checks the report against perfprobe's JSON schema "
            "with the jsonschema package, which is not installed; install the "
            f"'report' extra: {INSTALL_HINT}"
        ) from None


def _write_html(report: Report, option: str, html_file: str, path: str) -> None:
    try:
        page = render_html(report)
    except Exception as exc:
        log_failure(logger, "report-command html", "perfprobe failed to render HTML")
        raise usage_error(
            f"{option} {html_file!r}: perfprobe failed to render the page "
            f"({type(exc).__name__}); details in the perfprobe.report log."
        ) from None
    try:
        write_text_atomic(path, page)
    except OSError as exc:
        # strerror is the whole sentence, naming the path, without "[Errno 2]".
        raise usage_error(f"{option} {html_file!r}: {exc.strerror or exc}.") from None
    except ValueError as exc:
        # A name no file can have (a NUL byte).
        raise usage_error(f"{option} {html_file!r}: {exc}.") from None
