"""Give a test its perfprobe scope, the monitor and the query and time budgets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..collector import Collector
from ..monitoring import PerformanceMonitor
from ..scope import Scope
from .assertions import assert_max_duration, assert_max_queries, assert_no_n_plus_one

if TYPE_CHECKING:
    from ..report import Report


class PerfprobeFixture:
    """What the ``perfprobe`` pytest fixture gives a test.

    ``scope`` is the test's scope, open for the whole test, named by its
    node id; ``monitor`` and ``collector`` are the ones queries are recorded
    into. The budgets are the functions of ``perfprobe.testing``.
    """

    assert_max_queries = staticmethod(assert_max_queries)
    assert_no_n_plus_one = staticmethod(assert_no_n_plus_one)
    assert_max_duration = staticmethod(assert_max_duration)

    def __init__(self, monitor: PerformanceMonitor, scope: Scope) -> None:
        self.monitor = monitor
        self.scope = scope

    @property
    def collector(self) -> Collector:
        """Return the monitor's collector."""
        return self.monitor.collector

    def report(self, **options: Any) -> Report:
        """Return ``monitor.generate_report(**options)``: everything so far.

        The process's report, not the test's: the test's own scope is still
        open, so its N+1 patterns and duplicates are not in it yet.
        """
        return self.monitor.generate_report(**options)
