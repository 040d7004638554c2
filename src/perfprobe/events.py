"""Define the raw measurements that probes hand to the collector."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast


@dataclass
class OperationEvent:
    """One timed block or decorated call; ``error_type`` is set if it raised."""

    name: str
    duration_s: float
    started_at: float
    thread_id: int
    thread_name: str
    scope: str | None
    tags: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    #: ``path:line`` in user code where the exception was raised.
    raised_at: str | None = None
    kind: str = "operation"

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        return asdict(self)


@dataclass
class LazyLoad:
    """A related-object or deferred-field load that Django ran implicitly.

    ``via`` is set when the ``model`` instance was itself loaded through a
    relation of another model (``"OrderItem.order"``): ``fix`` then applies
    to that model's queryset and names the whole path.
    """

    model: str
    field: str
    relation: str
    fix: str
    via: str = ""

    def to_dict(self) -> dict[str, str]:
        """Return the lazy load as JSON-ready data; ``via`` only when set."""
        data = asdict(self)
        if not self.via:
            data.pop("via")
        return data


def safe_repr(value: object) -> str:
    """Return ``repr(value)``, or ``<unrepresentable Type>`` if that raises."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"


# Per-process analysis aids, meaningless in a report.
_QUERY_INTERNAL = frozenset({"params_hash", "sql_hash", "bulk_call"})


@dataclass
class QueryEvent:
    """One database call; ``executemany`` is one event with its batch size."""

    alias: str
    vendor: str
    sql: str
    fingerprint: str
    duration_s: float
    started_at: float
    thread_id: int
    scope: str | None
    call_site: str | None
    many: bool = False
    batch_size: int = 1
    error_type: str | None = None
    params_hash: int = 0
    params: Any = None
    lazy_load: LazyLoad | None = None
    #: Hash of the raw SQL, so identical statements are found even when only
    #: their fingerprint is kept in ``sql``.
    sql_hash: int = 0
    #: Non-zero when the query is one of the batches of a single bulk ORM
    #: call (``bulk_create()``, ``bulk_update()``, a deletion); every query
    #: of that call carries the same number, unique within the process.
    bulk_call: int = 0
    kind: str = "query"

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data, without hashes or bulk number.

        Stored parameters are shown by their ``repr()``, or as
        ``<unrepresentable Type>`` when that raises.
        """
        # Not asdict(): it would deep-copy the parameters, which can be
        # large, or impossible to copy.
        data = {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name not in _QUERY_INTERNAL
        }
        data["lazy_load"] = self.lazy_load.to_dict() if self.lazy_load else None
        if self.params is None:
            data.pop("params")
        else:
            data["params"] = safe_repr(self.params)
        return data


#: A query kept raw by the recorder until the collector folds it in (see
#: ``perfprobe.querylog``): a list, indexed by these positions. Only calls
#: that ran, on their own (not ``executemany``), without an error and
#: without stored parameters are kept so.
RAW_ALIAS = 0
RAW_VENDOR = 1
#: The SQL as run; its fingerprint is taken when the record is folded.
RAW_SQL = 2
RAW_DURATION_S = 3
RAW_STARTED_AT = 4
RAW_THREAD_ID = 5
#: The ``Scope`` until the record is folded, then its path (or ``None``).
RAW_SCOPE = 6
RAW_CALL_SITE = 7
RAW_PARAMS_HASH = 8
RAW_LAZY_LOAD = 9
RAW_SQL_HASH = 10
RAW_BULK_CALL = 11
#: The ``QueryEvent`` once one was made for a read, so that later reads
#: return the same object.
RAW_EVENT = 12
RawQuery = list[Any]


@dataclass
class RequestEvent:
    """One HTTP request seen by the middleware, keyed by its route pattern."""

    method: str
    route: str
    status: int
    duration_s: float
    started_at: float
    thread_id: int
    query_count: int
    query_time_s: float
    scope: str | None
    error_type: str | None = None
    #: ``path:line`` in user code where the exception was raised.
    raised_at: str | None = None
    query_string: str | None = None
    kind: str = "request"

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        data = asdict(self)
        if self.query_string is None:
            data.pop("query_string")
        return data


@dataclass(eq=False)
class MemoryRecord:
    """A memory checkpoint, or a block with its start, end, delta and peak.

    ``heap_*`` figures are ``None`` when tracemalloc was not tracing.
    ``process_wide`` is true when other threads ran monitored work while a
    block was open, or other asyncio tasks of its thread had blocks open:
    its figures then include their allocations.
    """

    label: str
    kind: str
    started_at: float
    thread_id: int
    thread_name: str
    scope: str | None
    rss_bytes: int
    heap_current_bytes: int | None
    heap_peak_bytes: int | None
    rss_start_bytes: int | None = None
    heap_start_bytes: int | None = None
    rss_delta_bytes: int | None = None
    heap_delta_bytes: int | None = None
    peak_above_start_bytes: int | None = None
    duration_s: float | None = None
    process_wide: bool = False
    open: bool = False
    error_type: str | None = None
    #: A weak reference to the asyncio task that opened the block, if any:
    #: tasks of one event loop share their thread's heap, so a block of
    #: another task open at the same time makes both process-wide. Not a
    #: field, so not exported.
    task = cast(Any, None)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        data = asdict(self)
        data.pop("open")
        if self.kind == "checkpoint":
            data["attribution"] = "process snapshot"
        elif self.process_wide:
            data["attribution"] = (
                "process-wide: other threads or tasks ran monitored work"
            )
        else:
            data["attribution"] = "this block"
        return data


@dataclass
class ErrorEvent:
    """An exception observed by a probe: in an operation, query or request."""

    source: str
    name: str
    error_type: str
    started_at: float
    scope: str | None
    duration_s: float | None = None
    detail: str | None = None
    raised_at: str | None = None
    kind: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        return asdict(self)


Event = OperationEvent | QueryEvent | RequestEvent | MemoryRecord | ErrorEvent


def error_type_name(exc_type: type[BaseException] | None) -> str | None:
    """Return ``module.QualName`` for an exception class (builtins unqualified)."""
    if exc_type is None:
        return None
    # Only real strings are compared: a class may set __module__ to anything,
    # and the user's exception must not turn into one raised here.
    module: object = exc_type.__module__
    qualname = str(exc_type.__qualname__)
    if type(module) is not str or module in ("builtins", "__main__"):
        return qualname
    return f"{module}.{qualname}"


def is_interruption(exc: BaseException | None) -> bool:
    """Return whether ``exc`` stopped a block from outside, not as its failure.

    ``asyncio.CancelledError``: the task was cancelled, say because the
    client disconnected (the request is recorded as 499, not an error).
    ``GeneratorExit``: the generator the block runs in was closed early.
    """
    return isinstance(exc, asyncio.CancelledError | GeneratorExit)
