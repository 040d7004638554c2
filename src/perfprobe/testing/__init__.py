"""Check a block's queries and time in tests; the pytest plugin builds on these."""

from __future__ import annotations

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
