"""Turn a comparison into a CI verdict: what failed, and the exit status."""

from __future__ import annotations

from ..report.tables import printable
from .comparison import Comparison
from .load import LoadedReport

#: Exit statuses of ``perfprobe_compare`` and ``run_performance_demo``.
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2

REGRESSION = "regression"
CRITICAL = "critical"
FAIL_ON_CHOICES = (REGRESSION, CRITICAL)


def gate_failures(
    fail_on: frozenset[str], comparison: Comparison | None, new: LoadedReport
) -> list[str]:
    """Return one sentence per ``--fail-on`` condition that is met.

    ``regression`` is met by any regression in ``comparison`` (which must be
    given when it is asked for); ``critical`` by any critical recommendation
    in any run of ``new``. Control characters of the names read from the
    reports are shown escaped. Raise ``ValueError`` for an unknown condition
    or ``regression`` without a comparison.
    """
    unknown = fail_on - set(FAIL_ON_CHOICES)
    if unknown:
        raise ValueError(
            f"unknown --fail-on condition(s): {', '.join(sorted(unknown))}"
        )
    failures = []
    if REGRESSION in fail_on:
        if comparison is None:
            raise ValueError("--fail-on regression needs a comparison")
        regressions = comparison.regressions()
        if regressions:
            failures.append(
                f"--fail-on regression: {len(regressions)} found ({regressions[0]}"
                + (", ..." if len(regressions) > 1 else "")
                + ")"
            )
    if CRITICAL in fail_on and new.critical_count:
        example = f": {new.critical_titles[0]}" if new.critical_titles else ""
        failures.append(
            f"--fail-on critical: {new.critical_count} critical recommendation(s) "
            f"in {new.source}{example}"
        )
    # The sentences reach stderr (a terminal, a CI log) as they are.
    return [printable(failure) for failure in failures]
