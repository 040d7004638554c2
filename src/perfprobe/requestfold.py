"""Fold the quiet requests the collector keeps into their endpoints, in batches."""

from __future__ import annotations

from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .aggregates import PENDING_DURATIONS, EndpointStats
from .querycounts import QueryCountStats
from .stats import MetricStats

if TYPE_CHECKING:
    from .conf import PerfprobeSettings
    from .reentry import GuardedLock
    from .requestlog import QuietRequest, RawRequest

#: Quiet requests the request path leaves for one batched fold.
REQUEST_BATCH = 128
#: Distinct endpoints in a batch up to which ``_fold_requests`` picks each
#: one's requests in its own pass.
FEW_ENDPOINTS = 8
_endpoint_key = itemgetter(0)
_status = itemgetter(1)
_duration = itemgetter(2)


class RequestFold:
    """The collector's endpoint figures, and the fold of quiet requests into them.

    Mixed into ``Collector``, which sets everything declared here; the same
    lock and the same rules hold (see ``Collector``).
    """

    _lock: GuardedLock
    _conf: PerfprobeSettings
    _endpoints: dict[tuple[str, str], EndpointStats]
    _dropped_metrics: int
    #: Requests with nothing in their scope, not yet in their endpoint's
    #: figures: added in batches of ``REQUEST_BATCH`` and before every read.
    _request_log: list[RawRequest | QuietRequest]

    if TYPE_CHECKING:

        def _bounded_key(self, table: dict[Any, Any], key: Any) -> Any: ...

    def fold_requests(self) -> None:
        """Add the requests waiting in ``_request_log`` to their endpoints.

        Readers call it before they take the lock for their read: a
        finaliser the fold's allocations run, which records while the lock
        is held, is deferred until the lock is released, and so lands
        before the read rather than after it.
        """
        lock = self._lock
        if not self._request_log or lock._is_owned():  # type: ignore[attr-defined]
            return
        lock.fold(self._fold_requests)

    def _fold_requests(self) -> None:
        # Called with the lock held. Grouped by endpoint, so that each
        # endpoint takes its batch in a few calls, in C where it can.
        waiting = self._request_log
        self._request_log = []
        keys = list(map(_endpoint_key, waiting))
        # In the order first seen, as one by one would make them.
        distinct = dict.fromkeys(keys)
        groups: dict[tuple[str, str], list[RawRequest | QuietRequest]]
        if len(distinct) <= FEW_ENDPOINTS:
            # A batch usually holds a few endpoints: one pass in C each
            # rather than a lookup and an append in Python per request.
            groups = {
                key: list(compress(waiting, map(key.__eq__, keys))) for key in distinct
            }
        else:
            groups = {}
            for raw in waiting:
                group = groups.get(raw[0])
                if group is None:
                    group = groups[raw[0]] = []
                group.append(raw)
        endpoints = self._endpoints
        for key, raws in groups.items():
            ep = endpoints.get(key)
            if ep is None:
                ep = self._endpoint(key)
                if key not in endpoints:
                    # Past MAX_METRICS: each request counts as dropped, as
                    # one by one (_endpoint counted the first).
                    self._dropped_metrics += len(raws) - 1
            # A batch's statuses are mostly one: counted in C by list.count,
            # not one Counter update (a dict lookup, an addition and a
            # store) per request. The others keep their first-seen order.
            statuses = list(map(_status, raws))
            first = statuses[0]
            same = statuses.count(first)
            quiet = ep.quiet
            quiet[first] += same
            if same < len(statuses):
                quiet.update([status for status in statuses if status != first])
            pending = ep.pending
            pending.extend(map(_duration, raws))
            if len(pending) >= PENDING_DURATIONS:
                ep.add_pending()

    def _endpoint(self, key: tuple[str, str]) -> EndpointStats:
        # Called with the lock held.
        ep = self._endpoints.get(key)
        if ep is None:
            key = self._bounded_key(self._endpoints, key)
            ep = self._endpoints.get(key)
            if ep is None:
                limit = self._conf.EXACT_PERCENTILE_LIMIT
                ep = self._endpoints[key] = EndpointStats(
                    MetricStats(limit), QueryCountStats(limit)
                )
        return ep
