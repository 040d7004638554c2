"""Record every database call through one execute wrapper on each connection."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import conf as _conf_module
from .. import monitoring, tracing
from ..conf import PerfprobeSettings, get_settings
from ..events import QueryEvent, error_type_name
from ..failures import log_failure
from ..querylog import QUERY_BATCH
from ..rawrecords import load_keep_record
from ..scope import current_scope
from . import callsite as _callsite
from .callsite import stack_origin
from .fingerprint import fingerprint
from .framewalk import PURE_PYTHON_ENV
from .params import _PLAIN, _params_hash, flat_hash, sql_text

logger = logging.getLogger("perfprobe.db")

# Bound once: the hot path would look each up per query otherwise.
# The current scope is also the suppression mark (perfprobe.suppression).
_current_mark = current_scope.get
_get_ident = threading.get_ident
_perf_counter_ns = time.perf_counter_ns
_time = time.time
_flat_hash = flat_hash
_keep_record = load_keep_record()
# Logger.isEnabledFor() keeps its answers per level in Logger._cache, which
# logging empties (never replaces) on every level change: read there first,
# a Python call saved per query, and ask isEnabledFor() when nothing is kept.
_log_answers: dict[int, bool] = getattr(logger, "_cache", {})
_log_answer = _log_answers.get
_DEBUG = logging.DEBUG

Execute = Callable[[str, Any, bool, dict[str, Any]], Any]


def python_recorder(
    execute: Execute,
    sql: str,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    """Run ``execute``, time it and hand it to the default monitor's collector.

    The recorder in Python: ``recorder`` where the C one is not built, and
    what the C one hands over to. Return ``execute``'s result or re-raise
    its exception unchanged; failures inside perfprobe are logged to
    ``perfprobe.db`` and never reach the caller.
    """
    try:
        # The cached settings read without a call; get_settings() when
        # none are cached (first use, or after a change).
        conf = _conf_module.loaded or get_settings()
    except Exception:
        log_failure(logger, "settings", "perfprobe could not read its settings")
        return execute(sql, params, many, context)
    if not conf.ENABLED or not conf.INSTRUMENT_DATABASE:
        return execute(sql, params, many, context)
    # is_suppressed(), inlined: the mark's ContextVar.get costs no frame.
    mark = _current_mark()
    if mark is not None and mark.suppressed:
        return execute(sql, params, many, context)
    if many and params is not None and not isinstance(params, list | tuple):
        # An iterator can be read only once, and both the database and the
        # batch size need it, so both get the same list.
        params = list(params)

    started_at = _time()
    start_ns = _perf_counter_ns()
    try:
        result = execute(sql, params, many, context)
    except BaseException as exc:
        elapsed_ns = _perf_counter_ns() - start_ns
        _record(conf, sql, params, many, context, started_at, elapsed_ns, exc)
        raise
    end_ns = _perf_counter_ns()
    elapsed_ns = end_ns - start_ns

    # Nearly every query ends here, written out in this frame: a Python
    # call costs about as much as twenty bytecodes on this path. What
    # needs the query now goes to _record().
    try:
        duration_s = elapsed_ns / 1e9
        # Looked up at call time, so that replacing the default monitor
        # (as tests do) takes effect at the very next query.
        collector = monitoring.monitor.collector
        log = None
        if (
            not many
            and not conf.STORE_SQL_PARAMETERS
            and duration_s <= conf.SLOW_QUERY_SECONDS * collector.time_scale
            and not collector._listeners.items
            # No span to make: tracing off, or no tracer provider yet (a
            # look for one once a second, as the eager path would make;
            # the query's end, a clock read ago, stands in for now).
            and not (
                tracing.active
                and end_ns >= tracing.no_tracer_until_ns
                and tracing.get_tracer() is not None
            )
            and (_log_answer(_DEBUG) is False or not logger.isEnabledFor(_DEBUG))
        ):
            try:
                log = collector.thread_logs.local.log
            except AttributeError:
                log = collector.register_thread()
        # Open memory blocks are marked at once (the eager path).
        if log is not None and not log.open_blocks:
            # Nothing needs the query now: it waits, raw, in the thread's
            # log (see perfprobe.querylog). Django's CursorWrapper holds
            # the driver's cursor as .cursor.
            text = (
                sql
                if type(sql) is str
                else sql_text(sql, getattr(context.get("cursor"), "cursor", None))
            )
            # The current scope is the mark, read once before the query.
            scope = mark
            origin = _callsite._origin
            if origin is not None:
                # stack_origin() and the parameters' flat hash in one C
                # call, without a frame; one up is the code that called
                # the cursor. No flat hash: the general one.
                call_site, lazy_load, bulk_call, params_hash = origin(
                    1, scope, None if scope is None else scope.id, text, params
                )
                if params_hash is None:
                    params_hash = _params_hash(params)
            else:
                call_site, lazy_load, bulk_call = stack_origin(1, scope, text)
                try:
                    if _flat_hash is not None:
                        # _params_hash()'s first case in one C call:
                        # nearly every query. None for anything else.
                        flat = _flat_hash(params, _PLAIN)
                        params_hash = _params_hash(params) if flat is None else flat
                    elif (
                        (kind := type(params)) is tuple or kind is list
                    ) and _PLAIN.issuperset(types := tuple(map(type, params))):
                        # The same, inlined, where the extension is not
                        # built.
                        params_hash = hash((kind, types, tuple(params)))
                    else:
                        params_hash = _params_hash(params)
                except Exception:
                    # A plain-typed value that cannot be hashed (a
                    # datetime whose tzinfo raises) or a type whose
                    # metaclass's __hash__ raises: _params_hash() never
                    # raises. Free in 3.11 until raised.
                    params_hash = _params_hash(params)
            connection = context["connection"]
            queries = log.queries
            items = (
                connection.alias,
                connection.vendor,
                text,
                duration_s,
                started_at,
                log.thread_id,
                scope,
                call_site,
                params_hash,
                lazy_load,
                None,  # the SQL hash: put in by the fold, once per statement
                bulk_call,
                None,
            )
            # A record the recent events let go of is filled again: no
            # new list that the cyclic collector would count and scan
            # until the record leaves the recent events.
            if _keep_record is not None:
                kept = _keep_record(queries, log.spare, items)
            else:
                try:
                    record = log.spare.pop()
                except IndexError:
                    queries.append(list(items))
                else:
                    record[:] = items
                    queries.append(record)
                kept = len(queries)
            if kept >= QUERY_BATCH:
                collector.fold_thread_queries(log)
            return result
    except Exception:
        log_failure(logger, "record-query", "perfprobe failed to record a query")
        return result
    _record(conf, sql, params, many, context, started_at, elapsed_ns, None)
    return result


def _record(
    conf: PerfprobeSettings,
    sql: str,
    params: Any,
    many: bool,
    context: dict[str, Any],
    started_at: float,
    elapsed_ns: int,
    exc: BaseException | None,
    skip: int = 2,
) -> None:
    # The eager path: a query that raised, a batch, a slow query, stored
    # parameters, a listener, a span or debug logging to serve, or an open
    # memory block. Recorded as a QueryEvent at once. ``skip`` frames up is
    # the code that called the cursor: two from the Python recorder's
    # call, one from the C recorder's, which has no frame.
    try:
        # Django's CursorWrapper holds the driver's cursor as .cursor.
        text = (
            sql
            if type(sql) is str
            else sql_text(sql, getattr(context.get("cursor"), "cursor", None))
        )
        scope = current_scope.get()
        call_site, lazy_load, bulk_call = stack_origin(skip, scope, text)
        connection = context["connection"]
        store = conf.STORE_SQL_PARAMETERS
        # Batches are never N+1 or duplicate candidates, so hashing
        # thousands of rows would buy nothing.
        params_hash = 0 if many else _params_hash(params)
        collector = monitoring.monitor.collector
        duration_s = elapsed_ns / 1e9
        threshold_s = conf.SLOW_QUERY_SECONDS * collector.time_scale
        shape = fingerprint(text, connection.vendor)
        event = QueryEvent(
            connection.alias,
            connection.vendor,
            # Raw SQL can carry literals (a hand-written WHERE email =
            # '...'), so without the opt-in only its shape is kept.
            text if store else shape,
            shape,
            duration_s,
            started_at,
            _get_ident(),
            # A request's scope has no parent: its path is its name.
            None
            if scope is None
            else scope.name
            if scope.parent is None
            else scope.path,
            call_site,
            many,
            len(params) if many and params is not None else 1,
            None if exc is None else error_type_name(type(exc)),
            params_hash,
            params if store else None,
            lazy_load,
            hash(text),
            bulk_call,
        )
        collector.record_query(event, scope, conf)
        # While no tracer provider can be there yet (tracing rechecks
        # at no_tracer_until_ns), no call is spent on tracing.
        if tracing.active and _perf_counter_ns() >= tracing.no_tracer_until_ns:
            tracing.record_query(event, connection)
        if event.duration_s > threshold_s or logger.isEnabledFor(logging.DEBUG):
            _log(event, threshold_s)
    except Exception:
        log_failure(logger, "record-query", "perfprobe failed to record a query")


def _record_failed() -> None:
    # The C recorder's common path raised; called with the exception set
    # as the one being handled, which log_failure() reads.
    log_failure(logger, "record-query", "perfprobe failed to record a query")


def _load_recorder() -> Callable[..., Any] | None:
    # The C recorder where built and useful: without the C walk
    # (callsite._origin, CPython 3.11 only) it would hand every query to
    # the Python one.
    if os.environ.get(PURE_PYTHON_ENV) or _callsite._origin is None:
        return None
    try:
        from . import _recorder
    except ImportError:
        return None
    _recorder.bind(
        globals(),
        _conf_module,
        monitoring,
        tracing,
        _callsite,
        current_scope,
        python_recorder,
        _log_answers,
        logger,
        time.perf_counter_ns,
        time.time,
    )
    return _recorder.recorder


#: The execute wrapper installed on every connection; stateless, so every
#: connection in every thread shares it. The C recorder
#: (``_recorder.recorder``) where built, else ``python_recorder``. Either
#: is called by Django's ``functools.partial`` through vectorcall: a
#: function, not an instance with ``__call__`` (which would cost two
#: argument tuples and a look-up of ``__call__`` a query).
recorder: Callable[..., Any] = _load_recorder() or python_recorder


def _log(event: QueryEvent, threshold_s: float) -> None:
    if event.duration_s > threshold_s:
        # Only on the slow path: a threshold under a millisecond printed
        # "%.3f s" as 0.000 s.
        from ..report.fmt import format_against, format_duration

        logger.warning(
            "Slow query took %s (threshold %s) at %s: %s",
            format_against(event.duration_s, threshold_s),
            format_duration(threshold_s),
            event.call_site or "(unknown)",
            event.fingerprint,
            extra={
                "duration_s": event.duration_s,
                "threshold_s": threshold_s,
                "fingerprint": event.fingerprint,
                "call_site": event.call_site,
                "db_alias": event.alias,
            },
        )
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "Query on %s took %.6f s at %s: %s",
            event.alias,
            event.duration_s,
            event.call_site or "(unknown)",
            event.fingerprint,
            extra={
                "duration_s": event.duration_s,
                "fingerprint": event.fingerprint,
                "call_site": event.call_site,
                "db_alias": event.alias,
                "lazy_load": event.lazy_load.to_dict() if event.lazy_load else None,
            },
        )
