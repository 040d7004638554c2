"""Name the line whose query loaded an N+1's rows, as the scope closes.

The report names the queryset to change by the line its query ran on: the
query on the lazily loaded model's own table that ran last before the
loop. A report that kept every query knows when each ran; one that kept
only the slowest (``MAX_SLOW_QUERIES``) may have lost that query. So the
scope's own analysis (``ScopeQueries``), which sees every query, names it
when the finding is made, from what it holds anyway: its groups in the
order each first ran, and how many queries each ran. Nothing is added per
query. Where that order cannot tell (another candidate ran more than once,
and so perhaps again later), the candidates are all given, and the fix
says it could not tell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.apps import apps

from .events import LazyLoad

if TYPE_CHECKING:
    from .nplusone import _Group

__all__ = ["rows_loaded_at"]

#: Lines given at most when they cannot be told apart (as the report's).
MAX_LINES = 3

#: Whether a fingerprint selects a table's own rows, and each model name's
#: table (``report.indexes.model_table``), at most ``_MAX_CACHED`` each: a
#: request of an N+1 view asks again for the same few every time.
_reads: dict[tuple[str, str], bool] = {}
_model_tables: dict[str, str | None] = {}
_MAX_CACHED = 1024


def _model_table(object_name: str) -> str | None:
    try:
        return _model_tables[object_name]
    except KeyError:
        pass
    from .report.indexes import model_table

    table = model_table(object_name)
    # Before the registry is ready the answer is no answer, not the model's.
    if apps.ready:
        if len(_model_tables) >= _MAX_CACHED:
            _model_tables.clear()
        _model_tables[object_name] = table
    return table


def _reads_table(fingerprint: str, table: str) -> bool:
    """Return whether ``fingerprint`` selects the rows of ``table`` itself.

    As the report reads it: its statement's first table, with a column of
    that table selected (not only counted or joined).
    """
    key = (fingerprint, table)
    found = _reads.get(key)
    if found is not None:
        return found
    from .report.indexes import statement_table

    found = (
        statement_table(fingerprint) == table
        and f'"{table}".' in fingerprint.split(" FROM ", 1)[0]
    )
    if len(_reads) >= _MAX_CACHED:
        _reads.clear()
    _reads[key] = found
    return found


def rows_loaded_at(
    before: Iterable[_Group], pattern: _Group, lazy: LazyLoad | None
) -> tuple[str, ...] | None:
    """Return the lines that may have loaded the rows of the N+1 ``pattern``.

    ``before`` are the scope's groups whose first query ran before the
    pattern's first, in the order they first ran. Of those on the lazily
    loaded model's table, the one that first ran last is the line whose
    query ran last before the loop, unless another ran more than once (it
    may have run again after): then each such line is given too, sorted,
    at most ``MAX_LINES``. One line names the queryset; an empty tuple
    says no such query ran before the loop. ``None`` when this cannot be
    said: no lazy load, rows that came through a relation (``via``, or a
    candidate that was itself a lazy load), a table not known, or a
    candidate with no call site that may have run last.
    """
    if lazy is None or lazy.via:
        return None
    table = _model_table(lazy.model.rsplit(".", 1)[-1])
    if table is None:
        return None
    candidates = [
        group
        for group in before
        if group.fingerprint != pattern.fingerprint
        and _reads_table(group.fingerprint, table)
    ]
    if not candidates:
        return ()
    if any(group.lazy_load is not None for group in candidates):
        # The rows came through a relation: the report names it from the
        # queries it kept, as before.
        return None
    last = candidates[-1]
    lines = {last.call_site}
    lines.update(
        group.call_site
        for group in candidates[:-1]
        if group.count > 1 and group.call_site != last.call_site
    )
    if None in lines:
        return None
    return tuple(sorted(line for line in lines if line is not None)[:MAX_LINES])
