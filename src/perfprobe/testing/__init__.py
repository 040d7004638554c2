"""Check a block's queries and time in tests; the pytest plugin builds on these."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazynames import lazy_names

if TYPE_CHECKING:
    from .assertions import (
        BudgetExceeded,
        DurationBudget,
        NPlusOneBudget,
        QueryBudget,
        assert_max_duration,
        assert_max_queries,
        assert_no_n_plus_one,
    )
    from .capture import QueryCapture, QueryGroup
    from .readiness import NotRecording, recording_problem

__all__ = [
    "BudgetExceeded",
    "DurationBudget",
    "NPlusOneBudget",
    "NotRecording",
    "QueryBudget",
    "QueryCapture",
    "QueryGroup",
    "assert_max_duration",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "recording_problem",
]

# Imported when first asked for, not with the package (see
# perfprobe.lazynames).
__getattr__ = lazy_names(
    __name__,
    {
        "BudgetExceeded": "assertions",
        "DurationBudget": "assertions",
        "NPlusOneBudget": "assertions",
        "NotRecording": "readiness",
        "QueryBudget": "assertions",
        "QueryCapture": "capture",
        "QueryGroup": "capture",
        "assert_max_duration": "assertions",
        "assert_max_queries": "assertions",
        "assert_no_n_plus_one": "assertions",
        "recording_problem": "readiness",
    },
)
