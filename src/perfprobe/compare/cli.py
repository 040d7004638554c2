"""Parse the comparison options of perfprobe's commands and run the gate.

Both ``perfprobe_compare`` and the demo's ``run_performance_demo`` use these,
so their options, messages and exit statuses agree. Every bad value raises
``CommandError`` with ``EXIT_ERROR`` naming the option and the value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from django.core.management.base import CommandError
from rich.console import Console

from .comparison import Comparison, compare_reports
from .gate import (
    EXIT_ERROR,
    EXIT_GATE_FAILED,
    FAIL_ON_CHOICES,
    NEEDS_BASELINE,
    gate_failures,
)
from .load import LoadedReport, ReportLoadError, load_report, report_from_data
from .render import ComparisonRenderer

DEFAULT_TOLERANCE_PERCENT = "10"


class GateFailed(CommandError):
    """A ``--fail-on`` condition was met; the command exits with status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_GATE_FAILED)


def usage_error(message: str) -> CommandError:
    """Return a ``CommandError`` that exits with ``EXIT_ERROR``."""
    return CommandError(message, returncode=EXIT_ERROR)


def with_error_status(exc: CommandError) -> None:
    """Give ``exc`` the ``EXIT_ERROR`` status unless it is a ``GateFailed``.

    Django's ``CommandError`` exits with 1 by default; a command whose 1
    means "the gate failed" needs every other failure to say 2.
    """
    if not isinstance(exc, GateFailed):
        exc.returncode = EXIT_ERROR


def parse_tolerance(value: Any, option: str = "--tolerance") -> float:
    """Return a percentage such as ``"10"`` or ``"2.5%"`` as a fraction (0.1)."""
    message = (
        f"{option} must be a percentage of 0 or more, such as 10 or 2.5%, "
        f"not {value!r}."
    )
    text = str(value).strip().removesuffix("%")
    try:
        percent = float(text)
    except ValueError:
        raise usage_error(message) from None
    if not math.isfinite(percent) or percent < 0:
        raise usage_error(message)
    return percent / 100


def parse_fail_on(
    values: Iterable[str] | None, option: str = "--fail-on"
) -> frozenset[str]:
    """Return the conditions of repeated or comma-separated ``--fail-on`` values."""
    chosen: set[str] = set()
    for value in values or ():
        names = [part.strip() for part in str(value).split(",")]
        for name in names:
            if name not in FAIL_ON_CHOICES:
                raise usage_error(
                    f"{option} {value!r} is not accepted; choose "
                    f"{', '.join(FAIL_ON_CHOICES[:-1])} or {FAIL_ON_CHOICES[-1]} "
                    "(repeat the option or separate them with commas)."
                )
            chosen.add(name)
    return frozenset(chosen)


def require_baseline(fail_on: frozenset[str], baseline: str | None) -> None:
    """Refuse ``--fail-on regression`` (or ``queries``) with nothing to compare."""
    for condition in NEEDS_BASELINE:
        if condition in fail_on and baseline is None:
            raise usage_error(
                f"--fail-on {condition} needs --baseline FILE, a report to "
                "compare with."
            )


def load_report_option(option: str, value: str) -> LoadedReport:
    """Load the report named by ``option``; a bad file is a one-line error.

    A leading ``~`` is the home folder, as in the demo's ``--output-file``:
    the shell leaves ``--baseline=~/base.json`` as typed.
    """
    try:
        return load_report(os.path.expanduser(value))
    except ReportLoadError as exc:
        raise usage_error(f"{option} {value!r} {exc}.") from None


def loaded_from_data(data: dict[str, Any], source: str) -> LoadedReport:
    """Return the figures of an in-memory report (``Report.to_dict()``)."""
    try:
        return report_from_data(data, source)
    except ReportLoadError as exc:
        raise usage_error(f"{source} {exc}.") from None


def run_gate(
    console: Console,
    new: LoadedReport,
    *,
    old: LoadedReport | None,
    tolerance: float,
    fail_on: frozenset[str],
) -> Comparison | None:
    """Print the comparison with ``old`` when given, then apply ``fail_on``.

    Raise ``GateFailed`` naming each condition met; return the comparison.
    """
    comparison = None
    if old is not None:
        comparison = compare_reports(old, new, tolerance=tolerance)
        ComparisonRenderer(console).render(comparison)
    failures = gate_failures(fail_on, comparison, new)
    if failures:
        raise GateFailed("; ".join(failures))
    if fail_on:
        untested = (
            "; the regressions listed above are not gated"
            if comparison is not None
            and "regression" not in fail_on
            and comparison.regressions()
            else ""
        )
        console.print(
            f"Gate passed (--fail-on {','.join(sorted(fail_on))}{untested}).",
            markup=False,
            highlight=False,
        )
    return comparison
