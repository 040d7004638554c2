"""Turn a comparison into a CI verdict: what failed, and the exit status."""

from __future__ import annotations

from ..report.fmt import printable
from .comparison import Comparison
from .load import LoadedReport

#: Exit statuses of ``perfprobe_compare`` and ``run_performance_demo``.
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2

REGRESSION = "regression"
#: The exact counts alone: more queries per request or per run of a
#: scenario, more N+1 queries per scope, a new N+1 finding. Timings are
#: printed but do not gate: for live reports, whose timings are noise.
QUERIES = "queries"
CRITICAL = "critical"
FAIL_ON_CHOICES = (REGRESSION, QUERIES, CRITICAL)
#: The conditions that compare with a baseline.
NEEDS_BASELINE = (REGRESSION, QUERIES)


def gate_failures(
    fail_on: frozenset[str], comparison: Comparison | None, new: LoadedReport
) -> list[str]:
    """Return one sentence per ``--fail-on`` condition that is met.

    ``regression`` is met by any regression in ``comparison`` (which must be
    given when it is asked for), ``queries`` by any of its query-count
    regressions; ``critical`` by any critical recommendation in any run of
    ``new``. Control characters of the names read from the reports are
    shown escaped. Raise ``ValueError`` for an unknown condition or
    ``regression`` or ``queries`` without a comparison.
    """
    unknown = fail_on - set(FAIL_ON_CHOICES)
    if unknown:
        raise ValueError(
            f"unknown --fail-on condition(s): {', '.join(sorted(unknown))}"
        )
    failures = []
    for condition in NEEDS_BASELINE:
        if condition not in fail_on:
            continue
        if comparison is None:
            raise ValueError(f"--fail-on {condition} needs a comparison")
        if condition == REGRESSION:
            regressions = comparison.regressions()
        else:
            regressions = comparison.query_regressions()
        if regressions:
            failures.append(
                f"--fail-on {condition}: {len(regressions)} found ({regressions[0]}"
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
