"""Fail a test whose block runs too many queries, an N+1 pattern, or too long."""

from __future__ import annotations

import math
import time
from types import TracebackType

from ..conf import get_settings
from ..report.fmt import format_against, format_duration, plural, shorten
from ..report.nplusonewhere import endpoint_in_scope, place_n_plus_one
from .capture import QueryCapture
from .readiness import require_recording

# Enough lines to find the culprit in a failure message; a block that ran
# thousands of query shapes is summed up after these.
_MAX_LINES = 20
# Fingerprints abbreviate column lists already; this cuts only the rare
# statement that is still very long.
_FINGERPRINT_WIDTH = 300


class BudgetExceeded(AssertionError):
    """Raised when a block ran more queries, N+1 patterns or time than allowed."""


def _site(call_site: str | None) -> str:
    return call_site or "(call site unknown)"


def _check_count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be {low} or more, not {value}")
    return value


class QueryBudget:
    """Raise ``BudgetExceeded`` if the block ran more than ``limit`` queries.

    Every database call perfprobe records counts (``executemany`` once),
    transaction control included; ``QueryCapture`` says which threads count
    and how nested blocks add up. The message lists each query shape with
    its call site (``path:line``) and count, most frequent first. An
    exception leaving the block passes through unchanged and the count is
    not checked. ``as`` gives the ``QueryCapture``. Raise ``NotRecording``
    on entry when perfprobe records no query, and ``TypeError`` or
    ``ValueError`` when ``limit`` is not an integer of 0 or more.
    """

    def __init__(self, limit: int) -> None:
        self.limit = _check_count("limit", limit, 0)
        self.capture = QueryCapture()

    def __enter__(self) -> QueryCapture:
        require_recording("assert_max_queries")
        return self.capture.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # pytest shows the user's with statement, not this frame.
        __tracebackhide__ = True
        self.capture.__exit__(exc_type, exc, tb)
        if exc is None and self.capture.count > self.limit:
            raise BudgetExceeded(self.message())

    def message(self) -> str:
        """Return the failure message for the queries counted so far."""
        capture = self.capture
        lines = [
            f"{plural(capture.count, 'query')} ran in the block, over the limit "
            f"of {self.limit} (perfprobe):"
        ]
        groups = capture.groups()
        for group in groups[:_MAX_LINES]:
            lines.append(
                f"  {group.count} x {shorten(group.fingerprint, _FINGERPRINT_WIDTH)}"
                f"  at {_site(group.call_site)}"
            )
        hidden = sum(g.count for g in groups[_MAX_LINES:]) + capture.other
        if hidden:
            lines.append(f"  ... and {plural(hidden, 'more query')}")
        return "\n".join(lines)


class NPlusOneBudget:
    """Raise ``BudgetExceeded`` if the block ran an N+1 query pattern.

    An N+1 is ``min_queries`` or more queries of one shape from one call
    site with differing parameters (default: ``N_PLUS_ONE_MIN_QUERIES``,
    as in the report), among the queries ``QueryCapture`` counts for the
    block. The message names each pattern's shape, call site
    and count and, where a lazy related-object load caused it, the model
    and field with the fix. An exception leaving the block passes through
    unchanged. Raise ``NotRecording`` on entry when perfprobe records no
    query, and ``TypeError`` or ``ValueError`` when ``min_queries`` is not
    an integer of 2 or more.
    """

    def __init__(self, min_queries: int | None = None) -> None:
        if min_queries is not None:
            _check_count("min_queries", min_queries, 2)
        self._min_queries = min_queries
        self.min_queries = min_queries or 0
        self.capture = QueryCapture()

    def __enter__(self) -> QueryCapture:
        require_recording("assert_no_n_plus_one")
        # The setting is read here, not at creation: Django may not have
        # been set up when the object was made.
        self.min_queries = self._min_queries or get_settings().N_PLUS_ONE_MIN_QUERIES
        return self.capture.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # pytest shows the user's with statement, not this frame.
        __tracebackhide__ = True
        self.capture.__exit__(exc_type, exc, tb)
        if exc is None and self.capture.n_plus_one(self.min_queries):
            raise BudgetExceeded(self.message())

    def message(self) -> str:
        """Return the failure message for the N+1 patterns found so far."""
        findings = self.capture.n_plus_one(self.min_queries)
        lines = [
            f"{plural(len(findings), 'N+1 query pattern')} in the block "
            f"({self.min_queries} or more queries of one shape from one line, "
            "with differing parameters; perfprobe):"
        ]
        firsts = self.capture.first_queries()
        nearby = [
            (q.call_site, q.fingerprint, q.lazy_load.to_dict() if q.lazy_load else None)
            for q in firsts
        ]
        for finding in findings[:_MAX_LINES]:
            lazy = finding.lazy_load
            cause = f" loading {lazy.model}.{lazy.field}" if lazy else ""
            shape = shorten(finding.fingerprint, _FINGERPRINT_WIDTH)
            # The report's wording: where it ran (a template, a view's
            # queryset) and the fix, from the queries of the block.
            endpoints = [
                endpoint
                for q in firsts
                if (q.fingerprint, q.call_site)
                == (finding.fingerprint, finding.call_site)
                and (endpoint := endpoint_in_scope(q.scope)) is not None
            ]
            place = place_n_plus_one(
                finding.fingerprint,
                finding.call_site,
                lazy.to_dict() if lazy else None,
                nearby,
                endpoints,
                finding.rows_loaded_at,
            )
            lines.append(f"  {finding.count} x {shape}  {place.where}{cause}")
            lines.append(f"    {place.suggestion}")
        if len(findings) > _MAX_LINES:
            lines.append(f"  ... and {len(findings) - _MAX_LINES} more")
        return "\n".join(lines)


class DurationBudget:
    """Raise ``BudgetExceeded`` if the block took longer than ``seconds``.

    The block's wall-clock time is measured with ``time.perf_counter_ns``:
    whatever it waited for counts, other threads' work included. The limit
    is not multiplied by the monitor's ``time_scale``. ``as`` gives the
    object, whose ``duration_s`` is set when the block ends. An exception
    leaving the block passes through unchanged and the time is not checked.
    Raise ``TypeError`` or ``ValueError`` when ``seconds`` is not a finite
    number above 0.
    """

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"seconds must be a finite number above 0, not {seconds}")
        self.limit_s = float(seconds)
        self.duration_s: float | None = None
        self._start_ns = 0

    def __enter__(self) -> DurationBudget:
        self._start_ns = time.perf_counter_ns()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # pytest shows the user's with statement, not this frame.
        __tracebackhide__ = True
        self.duration_s = (time.perf_counter_ns() - self._start_ns) / 1e9
        if exc is None and self.duration_s > self.limit_s:
            raise BudgetExceeded(
                f"the block took {format_against(self.duration_s, self.limit_s)}, "
                f"over the limit of {format_duration(self.limit_s)} (perfprobe)"
            )


def assert_max_queries(limit: int) -> QueryBudget:
    """Return a context manager that fails if its block runs over ``limit`` queries.

    See ``QueryBudget``.
    """
    return QueryBudget(limit)


def assert_no_n_plus_one(min_queries: int | None = None) -> NPlusOneBudget:
    """Return a context manager that fails if its block runs an N+1 pattern.

    See ``NPlusOneBudget``.
    """
    return NPlusOneBudget(min_queries)


def assert_max_duration(seconds: float) -> DurationBudget:
    """Return a context manager that fails if its block takes over ``seconds``.

    See ``DurationBudget``.
    """
    return DurationBudget(seconds)
