"""Write the concrete suggestion text that each recommendation rule gives."""

from __future__ import annotations

from .fmt import format_duration, format_mean_count, shorten, shorten_sql
from .indexes import IndexVerdict
from .loopadvice import duplicate_queries, n_plus_one
from .memoryadvice import high_memory
from .queryadvice import query_steps
from .recursion import is_recursive, read_recursion
from .sqlshape import QueryShape, read_shape

__all__ = [
    "duplicate_queries",
    "error",
    "high_memory",
    "n_plus_one",
    "query_error",
    "slow_endpoint",
    "slow_operation",
    "slow_query",
    "slow_query_operations",
]

_EXPLAIN = {
    "postgresql": "EXPLAIN (ANALYZE, BUFFERS)",
    "mysql": "EXPLAIN ANALYZE",
    "sqlite": "EXPLAIN QUERY PLAN",
    "oracle": "EXPLAIN PLAN FOR",
}


def slow_operation(
    name: str,
    typical: bool,
    slow_queries: bool = False,
    explains: list[tuple[str, float]] | None = None,
    inside: list[tuple[str | None, str, float]] | None = None,
) -> str:
    """Return what to do about operation ``name`` being slow.

    ``slow_queries`` says the report also flags slow queries, one of which
    may have run inside the operation. ``explains`` lists the endpoints
    whose time the operation mostly accounts for, each with that share
    (0..1): their slow-endpoint findings are left to this one. ``inside``
    lists the flagged slow queries known to have run inside it (call site,
    fingerprint, share of its time): they are named instead.
    """
    how_often = "most calls" if typical else "its slowest calls"
    if inside:
        first = f"{_queries_inside(inside)}; for the rest of its time, p"
    elif slow_queries:
        first = (
            f"If {name!r} runs queries, read the slow-query findings first: a slow "
            "query run inside it is reported there, and its time is part of this "
            "operation's too. Otherwise p"
        )
    else:
        first = "P"
    text = (
        f"{first}rofile {name!r} (cProfile, or py-spy against the running process) "
        f"to see where {how_often} spend their time. If the caller does not need "
        "the result at once, move the work to a background task; if the result "
        "repeats for the same input, cache it (django.core.cache or "
        "functools.lru_cache)."
    )
    if explains:
        shares = ", ".join(f"{share:.0%} of {route}" for route, share in explains)
        ends = "that endpoint's" if len(explains) == 1 else "those endpoints'"
        text += (
            f" It takes {shares}'s time, so speeding it up speeds up {ends} "
            "requests too (they have no slow-endpoint finding of their own)."
        )
    return text


def _queries_inside(inside: list[tuple[str | None, str, float]]) -> str:
    """Return ``"25% of its time is the slow query at a.py:9 (see ...)"``."""
    parts = [
        f"{share:.0%}"
        + (" of its time is" if index == 0 else "")
        + " the slow query "
        + (f"at {site}" if site else repr(shorten_sql(fingerprint, 60)))
        for index, (site, fingerprint, share) in enumerate(inside[:3])
    ]
    named = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    see = "finding" if len(parts) == 1 else "findings"
    return f"{named} (see the slow-query {see})"


def slow_query_operations(explains: list[tuple[str, float]]) -> str:
    """Return the sentence that names the operations a slow query explains.

    ``explains`` lists each operation's name and the share (0..1) of its
    time the query took: their slow-operation findings are left to it.
    """
    shares = ", ".join(
        f"{share:.0%} of operation {name!r}'s" for name, share in explains
    )
    if len(explains) == 1:
        those, own = "that operation", "it has no slow-operation finding of its own"
    else:
        those, own = "those operations", "they have no slow-operation findings"
    return f"It takes {shares} time, so speeding it up speeds up {those} too ({own})."


def slow_endpoint(
    route: str,
    queries_per_request: float,
    many_queries: int,
    query_share: float,
    operations: list[tuple[str, float, bool]] | None = None,
) -> str:
    """Return what to do about ``route`` being slow, given its queries.

    ``query_share`` is the fraction (0..1) of the route's time spent in its
    queries; ``operations`` the measured operations (``name``, share of the
    route's time, whether flagged slow) that ran inside its requests.
    """
    queries = format_mean_count(queries_per_request)
    timed = ""
    see = " (see its slow-operation finding)"
    if operations and len(operations) == 1:
        ((name, share, slow),) = operations
        timed = (
            f"The measured operation {name!r} takes {share:.0%} of {route}'s "
            f"time{see if slow else ''}: profile it first. "
        )
    elif operations:
        parts = [
            f"{name!r} {share:.0%}{see if slow else ''}"
            for name, share, slow in operations
        ]
        timed = (
            f"Measured operations take part of {route}'s time ({'; '.join(parts)}): "
            "profile those first. "
        )
    if queries_per_request >= many_queries:
        return timed + (
            f"{route} runs {queries} queries per request on average: "
            "look at the n-plus-one and duplicate-queries findings for its call "
            "sites and load related rows with select_related()/prefetch_related() "
            "before the loop that uses them."
        )
    if query_share >= 0.5:
        return timed + (
            f"{route} spends {query_share:.0%} of its time in "
            f"{queries} queries per request: the slow-query "
            "findings for its call sites say which one; index what it filters "
            "and sorts on, or cache its result if it changes rarely."
        )
    ran = (
        "runs no queries"
        if queries_per_request == 0
        else f"runs {queries} queries per request on average"
    )
    check = (
        ""
        if queries_per_request == 0
        else "check the slow-query findings for its queries, "
    )
    profile = (
        "the rest of the time goes elsewhere: profile the rest of the view"
        if operations
        else (
            "the time goes elsewhere: time its parts with "
            "monitor.measure_execution_time() blocks (the next report names each "
            "block that takes a tenth of its time or more) or profile the view"
        )
    )
    return timed + (
        f"{route} {ran}, so {profile}, {check}cache "
        "the response (cache_page) or the expensive part, and move work the "
        "response does not need to a background task."
    )


def slow_query(
    sql: str,
    vendor: str | None,
    call_site: str | None,
    indexes: IndexVerdict | None = None,
    shape: QueryShape | None = None,
) -> str:
    """Return how to speed up ``sql``, with hints drawn from its text.

    ``indexes`` is what the app's models say about the columns it filters
    on (``indexes.check_indexes``): a filter on an indexed column points at
    other causes than a missing index, and one that returns at most a few
    rows (a primary key or unique lookup) is not told to paginate.
    ``shape`` (``sqlshape.read_shape``, read from ``sql`` when not given)
    says what it returns and how it filters: a LIKE with a leading wildcard
    is not told to add a B-tree index, an aggregate not to paginate.
    """
    explain = _EXPLAIN.get(vendor or "", "EXPLAIN")
    where = f" (run at {call_site})" if call_site else ""
    shown = f"{shorten(sql, 120)!r}{where}"
    if is_recursive(sql):
        return f"The query {shown} is slow: {_finish_in_time(sql, explain)}."
    return query_steps(sql, vendor, shown, explain, indexes, shape or read_shape(sql))


def error(
    source: str,
    name: str,
    error_type: str,
    call_site: str | None,
    ran_queries: bool | None = None,
) -> str:
    """Return what to do about one group of errors, specific to its source.

    ``ran_queries`` says whether queries ran where it was raised: queryset
    advice for a MemoryError only then (as a condition when unknown).
    """
    lowered = error_type.lower()
    if "memoryerror" in lowered:
        chunks = {
            True: " (.iterator(chunk_size=...) for querysets)",
            None: " (.iterator(chunk_size=...) if it comes from a queryset)",
            False: "",
        }[ran_queries]
        return (
            f"{name} ran out of memory: process the data in chunks{chunks} "
            "instead of loading it all at once."
        )
    if source == "query":
        return query_error(name, error_type, call_site)
    if source == "request":
        if error_type.startswith("HTTP "):
            return (
                f"{name} answered {error_type} without raising: check what the "
                "view returns and the upstream service it depends on."
            )
        # Most exceptions in a view are bugs; only some come from bad input.
        fix = (
            "if bad input in the request causes it, validate that input and "
            "answer with a 4xx instead of a 500."
        )
        if not call_site:
            # Raised with no line of the project's code on the stack (Django
            # calling a view whose arguments do not match its route, say):
            # there is no line to name, only the traceback to read.
            return (
                f"{name} failed with {error_type}, raised where no line of "
                "your code was on the stack: the full traceback, which Django "
                "logs to the django.request logger, shows where it was raised "
                f"and what called it; fix or handle it there — {fix}"
            )
        return (
            f"{name} failed with {error_type} raised at {call_site}: fix or "
            "handle it there (Django logs the full traceback to the "
            f"django.request logger) — {fix}"
        )
    if source == "scenario":
        return f"See the failed scenario {name!r} in the scenarios section."
    where = f" at {call_site}" if call_site else ""
    return (
        f"{source} {name!r} raised {error_type}{where}: handle the exception "
        "where it can be recovered from, or prevent the condition that raises it."
    )


def _finish_in_time(fingerprint: str, explain: str = "EXPLAIN") -> str:
    """Return how to make ``fingerprint`` take less time, fitting a recursive CTE.

    A recursive CTE runs until its recursive part returns no rows: with
    nothing that ends it, only a stopping condition helps (and a LIMIT on
    the outer query only when that query does not read every row, as
    count(*) does); with a condition on its own counter, its time is the
    number of steps the bound allows times each step's work; walking
    another table's rows, each step is a join an index helps. Other
    statements finish sooner on a plan that reads fewer rows.
    """
    recursion = read_recursion(fingerprint) if is_recursive(fingerprint) else None
    if recursion is None:
        if is_recursive(fingerprint):
            return (
                "a recursive CTE runs until its recursive part returns no rows: "
                f"check that part has a condition that ends it, and {explain} it"
            )
        return f"{explain} it and index what its WHERE, JOIN and ORDER BY use"
    name = recursion.name
    # Both come from the statement as written, which may be long.
    bound = shorten(recursion.bound, 80)
    if recursion.tables:
        tables = ", ".join(recursion.tables[:3])
        if len(recursion.tables) > 3:
            tables += f" and {len(recursion.tables) - 3} more tables"
        ends = (
            f"its recursive part stops at {bound!r}, and each step "
            if recursion.bound
            else "each step of its recursive part "
        )
        cycle = (
            ""
            if recursion.bound
            else (
                "; it ends when no more rows match, so if the rows can form a "
                "cycle, UNION instead of UNION ALL or a depth counter with a "
                "WHERE makes it end"
            )
        )
        return (
            f"{ends}reads {tables}: run {explain} on it and look for a full "
            f"table scan of {tables} in each step; index the columns the "
            "recursive part joins and filters on (db_index=True or "
            f"Meta.indexes){cycle}"
        )
    if recursion.bound:
        return (
            f"its recursive part already stops at {bound!r}, so it "
            f"runs as many steps as that bound allows, each making one row of "
            f"{name}: check the value the bound is given (fewer steps, less "
            "time) and the work each step does; where the result follows from "
            "the bound alone, compute it without the recursion or cache it"
        )
    limit = (
        "; a LIMIT on the outer query would not stop it, because that query "
        "reads every row the CTE makes"
        if recursion.outer_reads_all
        else " or cap the rows the outer query takes (LIMIT)"
    )
    return (
        "a recursive CTE runs until its recursive part returns no rows, and "
        f"the recursive part of {name} has no condition that ends it: give it "
        f"a stopping condition (a WHERE on the depth or counter){limit}"
    )


def query_error(
    fingerprint: str,
    error_type: str,
    call_site: str | None,
    duration_s: float | None = None,
) -> str:
    """Return what to do about a query that raised ``error_type``.

    ``duration_s`` is how long its latest failed run took: a query stopped
    after seconds was most likely cancelled by a statement timeout.
    """
    where = f" at {call_site}" if call_site else ""
    lowered = error_type.lower()
    if any(word in lowered for word in ("timeout", "cancel", "operational")):
        ran = f" after running {format_duration(duration_s)}" if duration_s else ""
        return (
            f"The query{where} failed with {error_type}{ran}; on a long query "
            "that is usually a statement timeout stopping it, or a lock wait. "
            f"Make it finish well within the timeout: {_finish_in_time(fingerprint)}. "
            "Keep transactions short so it does not wait on locks. Where no "
            "statement timeout is set, set one so a runaway query fails fast "
            "(PostgreSQL: OPTIONS {'options': '-c statement_timeout=5000'}); "
            "have the caller retry or degrade gracefully."
        )
    return (
        f"The query {shorten(fingerprint, 80)!r}{where} raised {error_type}: check "
        "the SQL and its parameters, and catch the error where the caller can "
        "recover (django.db.IntegrityError for constraint violations)."
    )
