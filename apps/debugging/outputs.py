"""Write the demo command's outputs, each safe from a fault in another.

A fault inside perfprobe's renderers ends the command with one line, never a
traceback, and costs only the output it broke.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.core.management.base import CommandError
from rich.console import Console

from perfprobe.compare import cli as compare_cli
from perfprobe.failures import log_failure
from perfprobe.report import Report
from perfprobe.report.terminal import TerminalRenderer

from .load.cli import load_sections, render_load_results
from .options import DemoOptions
from .repeat import describe_runs

logger = logging.getLogger("perfprobe.report")


@contextlib.contextmanager
def building_the_report() -> Iterator[None]:
    """Turn a failure inside perfprobe while building the report into one line.

    Scenario failures never get here (the demo records them); what does is
    a fault in the monitor or the report builder. It is logged once through
    ``perfprobe.report``, with its traceback, and the command ends with a
    ``CommandError`` instead of a traceback of its own.
    """
    try:
        yield
    except CommandError:
        raise
    except Exception as exc:
        log_failure(logger, "demo-report", "perfprobe failed to build the report")
        raise CommandError(
            f"perfprobe failed to build the report ({type(exc).__name__}: {exc}); "
            "details in the perfprobe.report log."
        ) from None


class OutputSteps:
    """Run each of the command's outputs on its own; record which ones failed.

    A bug in one renderer (terminal, JSON, HTML) must not cost the others:
    its exception is logged once through ``perfprobe.report`` and the next
    output is still written. ``CommandError`` (a file that cannot be
    written, already worded for the user) passes through unchanged.
    """

    def __init__(self) -> None:
        self.failed: list[str] = []

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run the block that produces ``what``; log and note its failure."""
        try:
            yield
        except CommandError:
            raise
        except Exception:
            # The kind is fixed per output, so one broken renderer is one
            # logged traceback however often the command runs it.
            log_failure(
                logger, f"demo-output {what}", "perfprobe failed to write %s", what
            )
            self.failed.append(what)

    def check(self) -> None:
        """Raise ``CommandError`` naming every output that failed, if any."""
        if self.failed:
            raise CommandError(
                f"perfprobe failed to write {', '.join(self.failed)}; the other "
                "outputs were written (details in the perfprobe.report log)."
            )


def write_outputs(console: Console, report: Report, options: DemoOptions) -> None:
    """Print ``report``, write its files, then compare it with the baseline.

    Each output runs even when one before it failed; raise ``CommandError``
    naming what failed, or ``GateFailed`` when a ``--fail-on`` condition is
    met.
    """
    steps = OutputSteps()
    with steps.step("the terminal report"):
        TerminalRenderer(console).render(report)
        for line in describe_runs(report.runs or []):
            console.print(line, highlight=False, markup=False)
        render_load_results(console, report)

    output = options.output
    if output is not None:
        with steps.step(f"--output-file {str(output)!r}"):
            try:
                report.write_json(output)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--output-file {str(output)!r}: {exc}") from None
            console.print(f"Report written to {output}", highlight=False, markup=False)

    html_option, html_output = options.html_option, options.html_output
    if html_output is not None:
        with steps.step(f"{html_option} {str(html_output)!r}"):
            try:
                report.write_html(
                    html_output, charts=True, sections=load_sections(report)
                )
            except (OSError, ValueError) as exc:
                raise CommandError(
                    f"{html_option} {str(html_output)!r}: {exc}"
                ) from None
            console.print(
                f"HTML report written to {html_output}",
                highlight=False,
                markup=False,
            )

    if options.baseline is not None or options.fail_on:
        with steps.step("the baseline comparison"):
            compare_cli.run_gate(
                console,
                compare_cli.loaded_from_data(report.to_dict(), "this run"),
                old=options.baseline,
                tolerance=options.tolerance,
                fail_on=options.fail_on,
            )
    steps.check()
