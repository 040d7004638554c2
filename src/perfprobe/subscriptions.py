"""Let listeners hear what the collector records: add, remove and notify them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .aggregates import ScopeSummary
from .events import Event, RequestEvent
from .querylog import QueryBatch

if TYPE_CHECKING:
    from .listeners import ListenerList

Listener = Callable[[Event], None]
ScopeListener = Callable[[ScopeSummary], None]
RequestListener = Callable[[RequestEvent], None]
QueryBatchListener = Callable[[QueryBatch], None]


class Subscriptions:
    """The collector's listeners: who hears each event, scope, request and query.

    Mixed into ``Collector``, which makes the listener lists in its
    ``__init__``; listeners are called after the lock is released (see
    ``Collector``).
    """

    _listeners: ListenerList[Event]
    _scope_listeners: ListenerList[ScopeSummary]
    _request_listeners: ListenerList[RequestEvent]
    _finding_listeners: ListenerList[ScopeSummary]
    _query_batch_listeners: ListenerList[QueryBatch]

    if TYPE_CHECKING:

        def close_pending(self) -> None: ...

        def fold_queries(self) -> None: ...

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every event recorded from now on."""
        # Requests that ended before it are not heard: closed first.
        self.close_pending()
        self._listeners.add(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._listeners.remove(listener)

    def add_scope_listener(
        self, listener: ScopeListener, *, findings_only: bool = False
    ) -> None:
        """Call ``listener(summary)`` for every scope that closes from now on.

        With ``findings_only``, only for those closing with an N+1 or a
        duplicate finding; request scopes then keep their quiet and batched
        closes, which a listener to every scope turns off, and a scope whose
        close waited is passed on when it closes (with its batch, or before
        any read).
        """
        self.close_pending()
        if findings_only:
            self._finding_listeners.add(listener)
        else:
            self._scope_listeners.add(listener)

    def remove_scope_listener(self, listener: ScopeListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._scope_listeners.remove(listener)
        self._finding_listeners.remove(listener)

    def add_request_listener(self, listener: RequestListener) -> None:
        """Call ``listener(event)`` for every request recorded from now on.

        Unlike an event listener, it leaves the query recorder's fast path
        on, and a request that recorded nothing stays quiet (its event is
        made for the listeners alone); request scopes, though, do not wait
        for the batched close while one listens, so that each request is
        heard at its end with its query count.
        """
        self.close_pending()
        self._request_listeners.add(listener)

    def remove_request_listener(self, listener: RequestListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._request_listeners.remove(listener)

    def add_query_batch_listener(self, listener: QueryBatchListener) -> None:
        """Call ``listener((aliases, durations))`` for the database calls from now on.

        Each call passes the database alias and the duration in seconds of
        some calls, in the order they ran in each thread. Unlike an event
        listener, it leaves the query recorder's fast path on: a query that
        waits in its thread's log is passed on when the log is folded in
        (when a request scope closes, before every read, at a reset, and at
        the latest once the thread has ``QUERY_BATCH`` waiting); others at
        once. It is called with the collector's lock held, and must not call
        the collector; its failures are logged, not raised.
        """
        # Queries that ran before it are not passed on: folded in first.
        self.fold_queries()
        self._query_batch_listeners.add(listener)

    def remove_query_batch_listener(self, listener: QueryBatchListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored.

        The queries that ran while it listened and still wait in the thread
        logs are folded in first, so that it is passed them.
        """
        if listener in self._query_batch_listeners.items:
            self.fold_queries()
        self._query_batch_listeners.remove(listener)

    def _notify(self, event: Event) -> None:
        if self._listeners.items:
            self._listeners.notify(event)
