"""Write the suggestion of a slow-query finding, fitted to what its SQL shows.

What the query returns (one row, a row per group, a limited or an open
result) and how it filters (indexed columns, LIKE, no filter at all) decide
what is worth saying; nothing is said that does not follow from the query.
"""

from __future__ import annotations

import re

from .indexes import IndexVerdict, injected_delay
from .sqlshape import QueryShape

__all__ = ["query_steps"]

_WHERE_WORD = re.compile(r"WHERE\b", re.IGNORECASE)
_FUNCTION_CALL = re.compile(
    r"\b(LOWER|UPPER|DATE|COALESCE|CAST|SUBSTR|TRIM)\s*\(", re.IGNORECASE
)


def query_steps(
    sql: str,
    vendor: str | None,
    shown: str,
    explain: str,
    indexes: IndexVerdict | None,
    shape: QueryShape,
) -> str:
    """Return the steps that speed up ``sql``, a statement that is no recursive CTE.

    ``shown`` is the statement as the text quotes it, with its call site;
    ``explain`` the vendor's EXPLAIN. ``indexes`` is what the app's models
    say about the columns it filters on; ``shape`` what its SQL shows.
    """
    few_rows = indexes is not None and indexes.few_rows
    steps = []
    delay = injected_delay(sql)
    if delay:
        steps.append(
            f"It calls {delay}(), a delay put into the query on purpose, which "
            "most likely accounts for its time; beyond that:"
        )
    steps.append(_index_step(vendor, shown, explain, indexes, shape, delay, few_rows))
    if not delay:
        steps[0] = steps[0][0].upper() + steps[0][1:]
    if not shape.like and _filters_through_function(sql):
        steps.append(
            "It applies a function to a filtered column, which stops a plain index "
            "from being used: compare the raw column, or index the expression "
            "(an expression index, e.g. models.Index(Lower('email'), ...))."
        )
    size = _rows_step(shape, few_rows)
    if size:
        steps.append(size)
    return " ".join(steps)


def _filters_through_function(sql: str) -> bool:
    """Return whether a line of ``sql`` calls a function somewhere after WHERE.

    Each line's first WHERE, then one search past it: a single pattern
    ``WHERE.*FUNCTION(`` went to the end of the line and back from every
    WHERE, half a minute for a statement of 120,000 characters holding 20,000.
    """
    for line in sql.split("\n"):
        where = _WHERE_WORD.search(line)
        if where is not None and _FUNCTION_CALL.search(line, where.end()):
            return True
    return False


def _index_step(
    vendor: str | None,
    shown: str,
    explain: str,
    indexes: IndexVerdict | None,
    shape: QueryShape,
    delay: str | None,
    few_rows: bool,
) -> str:
    """Return what an index would or would not do for the query.

    ``delay`` is the sleep function the query calls, if any; ``few_rows``
    whether its filter's indexes bound it to a few rows.
    """
    if shape.like:
        return _like_step(shape, vendor, explain, shown)
    if delay and indexes is not None and indexes.indexed and not indexes.unindexed:
        bounded = ", so it returns at most a few rows" if few_rows else ""
        columns = "indexed columns" if len(indexes.indexed) > 1 else "an indexed column"
        return (
            f"it filters on {columns} ({'; '.join(indexes.indexed)})"
            f"{bounded}: "
            "without the delay neither a new index nor pagination would speed it "
            f"up; {explain} on {shown} confirms the index is used."
        )
    if indexes is not None and indexes.indexed:
        some = len(indexes.indexed) > 1
        lead = "the" if not indexes.unindexed else ("some" if some else "a")
        has = (
            "columns it filters on already have indexes"
            if some
            else ("column it filters on already has an index")
        )
        rows = "" if few_rows or shape.rows == "one" else "how many rows it returns, "
        return (
            f"{lead} {has} ({'; '.join(indexes.indexed)}), so a new index "
            f"is unlikely to help: run {explain} on {shown} to confirm the index "
            f"is used, then look at other causes: {rows}waits on locks held by "
            "concurrent writes, or a database busy with other work."
        )
    if indexes is not None and indexes.unindexed:
        return (
            f"run {explain} on {shown} and look for a full table scan: no index "
            f"starts with the columns it filters on ({', '.join(indexes.unindexed)}); "
            "add one (db_index=True or Meta.indexes)."
        )
    return _scan_step(shape, explain, shown)


_FULL_TEXT = {
    "sqlite": "a full-text FTS5 table serves word searches",
    "mysql": "a FULLTEXT index (MATCH ... AGAINST) serves word searches",
}


def _like_step(shape: QueryShape, vendor: str | None, explain: str, shown: str) -> str:
    """Return the index advice for a query that filters with LIKE."""
    columns = ", ".join(shape.like)
    if vendor == "postgresql":
        expression = (
            f", on the expression it compares, such as UPPER({shape.like[0]}) "
            "for icontains"
            if shape.like_expression
            else ""
        )
        instead = (
            "a trigram index serves it (the pg_trgm extension: a GinIndex with "
            f"OpClass(..., name='gin_trgm_ops'){expression}), as does full-text "
            "search (SearchVector with a GIN index)"
        )
    else:
        instead = _FULL_TEXT.get(vendor or "", "a full-text search index serves it")
    instead += (
        "; or avoid the leading wildcard: a pattern with a fixed start "
        "(startswith, istartswith) can use an index"
    )
    if shape.leading_wildcard:
        why = f" ({shape.lookup} at the call site)" if shape.lookup else ""
        return (
            f"it filters {columns} with LIKE on a pattern that starts with "
            f"%{why}, which no B-tree index can serve: adding one will not help, "
            f"the database reads every row of {shape.table or 'the table'}. "
            f"{instead[0].upper()}{instead[1:]}. {explain} on {shown} shows the "
            "scan."
        )
    return (
        f"it filters {columns} with LIKE: run {explain} on {shown}. If the "
        "pattern starts with % (contains, icontains, endswith), no B-tree "
        f"index can serve it: {instead}"
        + (" (one built with varchar_pattern_ops)." if vendor == "postgresql" else ".")
    )


def _scan_step(shape: QueryShape, explain: str, shown: str) -> str:
    """Return the index advice named after the columns the query uses."""
    if shape.has_where and not shape.filters_on:
        # Columns not written as "table"."column": none to name.
        return (
            f"run {explain} on {shown} and look for a full table scan; an index on "
            "the columns its WHERE, JOIN and ORDER BY use may help (db_index=True "
            "or Meta.indexes)."
        )
    if not shape.filters_on and not shape.sorts_by:
        return (
            f"run {explain} on {shown}: it filters on no column, so it reads "
            f"every row of {shape.table or 'its table'}, which no index shortens."
        )
    parts = []
    if shape.filters_on:
        parts.append(f"the columns it filters on ({', '.join(shape.filters_on)})")
    if shape.sorts_by:
        stop = (
            ", which lets it read its first rows in order instead of sorting them all,"
            if shape.rows == "limited"
            else ""
        )
        parts.append(f"the columns it sorts by ({', '.join(shape.sorts_by)}){stop}")
    negated = (
        " A negated comparison (NOT, <>) seldom uses an index." if shape.negated else ""
    )
    return (
        f"run {explain} on {shown} and look for a full table scan: an index on "
        f"{' and on '.join(parts)} may help (db_index=True or Meta.indexes)."
        f"{negated}"
    )


def _rows_step(shape: QueryShape, few_rows: bool) -> str | None:
    """Return what the size of the result suggests, if anything."""
    if shape.rows == "one":
        return (
            "It returns a single row (an aggregate), so pagination does not "
            "apply: its time is in the rows it reads; if an exact, current "
            "figure is not needed on every call, cache it."
        )
    if shape.rows == "groups":
        return (
            "It returns one row per group (GROUP BY) after reading every row it "
            "aggregates, so pagination would not shorten it: if it is read "
            "often, cache the result or keep the totals in a summary table."
        )
    if shape.rows == "any" and not few_rows:
        return "If it returns many rows, paginate it (Paginator or a slice)."
    return None
