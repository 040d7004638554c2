"""Log each N+1 finding to ``perfprobe.findings`` as its scope closes.

For the development console: with ``LOG_N_PLUS_ONE`` on (by default, while
``settings.DEBUG`` is), every request scope and ``monitor.scope()`` scope
that closes with an N+1 finding logs one WARNING line per finding, in the
report's wording: where the loop ran, what it loads one row at a time, and
the fix. A finding seen again in a later request is logged again, as
nplusone does, so the line after a fix shows whether it took. Only query
fingerprints and call sites are logged, never parameters.

The listener costs time a request: with it, no request scope waits for
the batched close (``Collector.close_pending``), so it is installed only
while the setting is on, and follows ``override_settings``. This module is
not even imported until then (``perfprobe.apps.sync_finding_log``).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from .aggregates import ScopeSummary
from .collector import Collector
from .conf import n_plus_one_log_wanted
from .failures import log_failure
from .findings import NPlusOneFinding

if TYPE_CHECKING:
    from .report.nplusonewhere import NearbyQuery

logger = logging.getLogger("perfprobe.findings")
# Not the findings' own logger: a handler of that one that raises would
# raise again while the failure is logged.
_failure_logger = logging.getLogger("perfprobe.collector")


def finding_line(
    summary: ScopeSummary,
    finding: NPlusOneFinding,
    nearby: list[NearbyQuery] | None = None,
) -> str:
    """Return the one line logged for ``finding`` of the scope ``summary``.

    ``"N+1 in GET /books/: 20 queries at library/views.py:12, Book.author
    loaded one row at a time. Add select_related(...) ..."``, from the
    report's own phrases; the queryset that loaded the rows is the one the
    finding names (``rows_loaded_at``), and relations it came through are
    found among the scope's query shapes (``ScopeSummary.query_groups``), as
    ``nearby_queries(summary)`` returns them (made here when not given).
    """
    # Imported here, and by FindingLog.sync before any request: the report
    # modules are not needed until the log is on.
    from .report.fmt import plural
    from .report.nplusonewhere import endpoint_in_scope, place_n_plus_one, what_loads

    lazy = finding.lazy_load.to_dict() if finding.lazy_load else None
    if nearby is None:
        nearby = nearby_queries(summary)
    endpoint = endpoint_in_scope(summary.path)
    place = place_n_plus_one(
        finding.fingerprint,
        finding.call_site,
        lazy,
        nearby,
        [endpoint] if endpoint else [],
        finding.rows_loaded_at,
    )
    line = (
        f"N+1 in {summary.path}: {plural(finding.count, 'query')} {place.where}, "
        f"{what_loads(finding.fingerprint, lazy)}. {place.suggestion}"
    )
    # One line per finding, whatever a fingerprint or a path holds.
    return " ".join(line.split())


def nearby_queries(summary: ScopeSummary) -> list[NearbyQuery]:
    """Return the scope's query shapes as ``place_n_plus_one`` reads them.

    Made once a scope, not once a finding: a scope with hundreds of N+1
    findings has as many query shapes, and each finding's line read them all.
    """
    return [
        (site, fingerprint, load.to_dict() if load else None)
        for site, fingerprint, load in summary.query_groups
    ]


class FindingLog:
    """Listen to the default monitor's collector while the setting is on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._collector: Collector | None = None

    @property
    def collector(self) -> Collector | None:
        """Return the collector listened to, or ``None`` when off."""
        return self._collector

    def sync(self) -> None:
        """Listen to the default collector while findings are to be logged."""
        from . import monitoring

        collector = monitoring.monitor.collector if n_plus_one_log_wanted() else None
        if collector is not None:
            # Imported now, not at the first finding: request threads that
            # reach their first finding together would import the report
            # package concurrently, and its circular imports then fail in
            # some of them (a partially initialized module), losing lines.
            importlib.import_module("perfprobe.report.nplusonewhere")
            importlib.import_module("perfprobe.report.fmt")
        # Listeners changed under the lock too: two threads' syncs (settings
        # changed in each) could otherwise remove before the other added,
        # leaving a listener the next sync added again, and lines twice.
        with self._lock:
            previous, self._collector = self._collector, collector
            if previous is collector:
                return
            if previous is not None:
                previous.remove_scope_listener(self.on_scope)
                previous.keep_query_groups = False
            if collector is not None:
                collector.keep_query_groups = True
                collector.add_scope_listener(self.on_scope)

    def on_scope(self, summary: ScopeSummary) -> None:
        """Log one WARNING line per N+1 finding of a closed scope; never raise."""
        if not summary.n_plus_one:
            return
        try:
            # DEBUG may have been turned off without a signal (pytest-django
            # sets it directly): the listener stays, the lines do not.
            if not n_plus_one_log_wanted():
                return
            nearby = nearby_queries(summary)
            for finding in summary.n_plus_one:
                logger.warning(
                    "%s",
                    finding_line(summary, finding, nearby),
                    extra={"perfprobe_n_plus_one": _evidence(summary, finding)},
                )
        except Exception:
            log_failure(
                _failure_logger,
                "n-plus-one log",
                "perfprobe failed to log an N+1 finding",
            )


def _evidence(summary: ScopeSummary, finding: NPlusOneFinding) -> dict[str, Any]:
    # Fingerprints and call sites only: the sample SQL may hold literals.
    lazy = finding.lazy_load
    return {
        "scope": summary.path,
        "call_site": finding.call_site,
        "fingerprint": finding.fingerprint,
        "count": finding.count,
        "model": lazy.model if lazy else None,
        "field": lazy.field if lazy else None,
    }


#: The process's one finding log; imported, and synced, only once wanted
#: (``perfprobe.apps.sync_finding_log``).
finding_log = FindingLog()
