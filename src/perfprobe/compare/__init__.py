"""Compare two perfprobe reports: per-run figures, noise, verdicts, CI gate.

``load_report`` reads a saved report, ``compare_reports`` judges every
scenario, operation and endpoint (median and p95 against the spread across
runs and a tolerance; from single runs only with enough samples) and
compares counts exactly (queries per request and
per scope of an N+1 finding; run totals only over the same work), and
``ComparisonRenderer`` prints the result. ``run_record`` reduces a report
to the figures of one run, the entries of a ``--repeat`` report's ``runs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazynames import lazy_names

if TYPE_CHECKING:
    from .comparison import Comparison, TimingRow, compare_reports
    from .counts import CountRow
    from .gate import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_OK, gate_failures
    from .load import LoadedReport, ReportLoadError, load_report, report_from_data
    from .render import ComparisonRenderer
    from .runs import ReportFormatError, run_record

__all__ = [
    "EXIT_ERROR",
    "EXIT_GATE_FAILED",
    "EXIT_OK",
    "Comparison",
    "ComparisonRenderer",
    "CountRow",
    "LoadedReport",
    "ReportFormatError",
    "ReportLoadError",
    "TimingRow",
    "compare_reports",
    "gate_failures",
    "load_report",
    "report_from_data",
    "run_record",
]

# Imported when first asked for, not with the package (see
# perfprobe.lazynames).
__getattr__ = lazy_names(
    __name__,
    {
        "EXIT_ERROR": "gate",
        "EXIT_GATE_FAILED": "gate",
        "EXIT_OK": "gate",
        "Comparison": "comparison",
        "ComparisonRenderer": "render",
        "CountRow": "counts",
        "LoadedReport": "load",
        "ReportFormatError": "runs",
        "ReportLoadError": "load",
        "TimingRow": "comparison",
        "compare_reports": "comparison",
        "gate_failures": "gate",
        "load_report": "load",
        "report_from_data": "load",
        "run_record": "runs",
    },
)
