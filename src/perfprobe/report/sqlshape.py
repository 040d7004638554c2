"""Read what a slow query's SQL says about the rows it returns and its filters.

The slow-query advice is only as specific as what it knows of the query: an
aggregate without ``GROUP BY`` returns one row and one with it a row per
group (neither is shortened by pagination); a ``LIKE`` whose pattern starts
with ``%`` reads every row whatever B-tree index exists. The pattern is a
parameter the report does not keep, so it is known to start with ``%`` only
from a literal in the SQL or from the call site's source line, where Django's
``contains``, ``icontains``, ``endswith`` and ``iendswith`` lookups put it
there; otherwise it is unknown.
"""

from __future__ import annotations

import linecache
import os
import re
from dataclasses import dataclass

from django.conf import settings

__all__ = ["QueryShape", "read_shape", "without_delay"]

_AGGREGATE = re.compile(
    r"\b(COUNT|SUM|AVG|MIN|MAX|TOTAL|GROUP_CONCAT|STRING_AGG|ARRAY_AGG)\s*\(",
    re.IGNORECASE,
)
_GROUP_BY = re.compile(r"\bGROUP\s+BY\b", re.IGNORECASE)
_LIMIT = re.compile(r"\bLIMIT\b|\bFETCH\s+FIRST\b", re.IGNORECASE)
_COLUMN = r'(?:"(?P<t1>\w+)"|`(?P<t2>\w+)`)\.(?:"(?P<c1>\w+)"|`(?P<c2>\w+)`)'
# A column compared with LIKE, maybe inside UPPER(...::text) (PostgreSQL's
# icontains) or LOWER(...).
_LIKE = re.compile(
    rf"(?P<func>\b\w+\(\s*)?{_COLUMN}(?:::\w+)?\)?\s+I?LIKE\b\s*(?P<pattern>\S*)",
    re.IGNORECASE,
)
_WHERE = re.compile(
    r"\bWHERE\b(.*?)(?:\bGROUP\s+BY\b|\bORDER\s+BY\b|\bLIMIT\b|\bHAVING\b|$)",
    re.IGNORECASE | re.DOTALL,
)
# A literal pattern (raw SQL; a fingerprint has ? for it) that starts with
# the wildcard, maybe inside UPPER(...).
_LITERAL_WILDCARD = re.compile(r"^(?:\w+\()?'%")
_ORDER_BY = re.compile(
    r"\bORDER\s+BY\b(.*?)(?:\bLIMIT\b|\bOFFSET\b|\bFOR\s+UPDATE\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_NEGATION = re.compile(r"\bNOT\b|<>|!=", re.IGNORECASE)
# Django lookups whose LIKE pattern has no leading %, and those whose has.
_PREFIX_LOOKUP = re.compile(r"__i?startswith\b")
_WILDCARD_LOOKUP = re.compile(r"\b(?P<field>\w+?)__(?P<lookup>i?contains|i?endswith)\b")
# The demo's injected delay in a WHERE (``DatabaseDelay``): SQLite's
# perfprobe_sleep(?) = ?, PostgreSQL's one-time (SELECT 0 FROM pg_sleep(?))
# = 0 (its 0s made ? by the fingerprint), elsewhere (SELECT
# perfprobe_sleep(?)) = ?.
_DELAY = re.compile(
    r"(?:\(\s*SELECT\s+(?:0|\?|%s)\s+FROM\s+pg_sleep\s*\([^()]*\)\s*\)"
    r"|\(\s*SELECT\s+\w*sleep\s*\([^()]*\)\s*\)"
    r"|\b\w*sleep\s*\([^()]*\))\s*=\s*(?:\?|%s|\d+)",
    re.IGNORECASE,
)
_MARK = "\x00"
_FROM = re.compile(r'\bFROM\s+(?:"(\w+)"|`(\w+)`|(\w+))', re.IGNORECASE)
_LIST_TOKEN = re.compile(r"[(),]|\bFROM\b", re.IGNORECASE)


@dataclass(frozen=True)
class QueryShape:
    """What the SQL of one query shows about its result and its filters.

    ``rows`` is what a SELECT returns: ``"one"`` (aggregates only),
    ``"groups"`` (``GROUP BY``), ``"limited"`` (``LIMIT``) or ``"any"``;
    any other statement is ``"not a select"``. Columns are named
    ``table.column``: ``filters_on`` those its WHERE names (an injected
    delay left out), ``like`` those compared with ``LIKE``, ``sorts_by``
    those of its ``ORDER BY``. ``leading_wildcard`` is true when the
    ``LIKE`` pattern is known to start with ``%``, and ``lookup`` the Django
    lookup at the call site that says so, if one did. ``table`` is the
    first table it reads.
    """

    rows: str
    table: str | None
    filters_on: tuple[str, ...]
    like: tuple[str, ...]
    leading_wildcard: bool
    lookup: str | None
    sorts_by: tuple[str, ...]
    #: The LIKE compares an expression of the column (PostgreSQL's
    #: icontains: ``UPPER("name"::text)``), not the column itself.
    like_expression: bool = False
    #: It has a WHERE (besides an injected delay), whatever its columns.
    has_where: bool = False
    #: Its WHERE negates a comparison (``NOT``, ``<>``, ``!=``).
    negated: bool = False


def without_delay(sql: str) -> str:
    """Return ``sql`` without the injected delay's predicate in its WHERE.

    A delay is no filter: left in, it hides the columns that are. Return
    ``sql`` unchanged when the delay stands anywhere else.
    """
    marked = _DELAY.sub(_MARK, sql)
    if marked == sql:
        return sql
    marked = re.sub(rf"\s+AND\s+{_MARK}|{_MARK}\s+AND\s+", "", marked, flags=re.I)
    marked = re.sub(
        rf"\s*\bWHERE\s+(\(\s*{_MARK}\s*\)|{_MARK})", "", marked, flags=re.I
    )
    return sql if _MARK in marked else marked


def read_shape(sql: str, call_site: str | None = None) -> QueryShape:
    """Return the shape of ``sql``; ``call_site`` is ``path:line``, if known."""
    plain = without_delay(sql)
    likes = list(_LIKE.finditer(plain))
    literal = any(_LITERAL_WILDCARD.match(m["pattern"]) for m in likes)
    like = tuple(dict.fromkeys(_name(m) for m in likes))
    lookup = _wildcard_lookup(call_site, like) if likes and not literal else None
    table = _FROM.search(plain)
    # Searched after the table, so an aggregate's FILTER (WHERE ...) in the
    # select list is not taken for the statement's.
    where = _WHERE.search(plain, table.end() if table else 0)
    order = _ORDER_BY.search(plain)
    return QueryShape(
        rows=_rows(plain),
        table=next((name for name in table.groups() if name), None) if table else None,
        has_where=where is not None,
        filters_on=_columns(where.group(1) if where else ""),
        like=like,
        leading_wildcard=bool(likes) and (literal or lookup is not None),
        lookup=lookup,
        sorts_by=_columns(order.group(1) if order else ""),
        like_expression=any(m["func"] for m in likes),
        negated=bool(where and _NEGATION.search(where.group(1))),
    )


def _name(match: re.Match[str]) -> str:
    table = match["t1"] or match["t2"]
    return f"{table}.{match['c1'] or match['c2']}"


def _columns(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_name(m) for m in re.finditer(_COLUMN, text)))


def _rows(sql: str) -> str:
    if not re.match(r"\s*SELECT\b", sql, re.IGNORECASE):
        return "not a select"
    if _GROUP_BY.search(sql):
        return "groups"
    items = _select_list(sql)
    if items and all(_AGGREGATE.search(item) for item in items):
        return "one"
    return "limited" if _LIMIT.search(sql) else "any"


def _select_list(sql: str) -> list[str]:
    """Return the items of the outermost SELECT's list, split at its commas."""
    match = re.match(r"\s*SELECT\b", sql, re.IGNORECASE)
    if match is None:
        return []
    items, depth, start = [], 0, match.end()
    for token in _LIST_TOKEN.finditer(sql, match.end()):
        text = token.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0:
            items.append(sql[start : token.start()])
            if text != ",":
                return items
            start = token.end()
    return []


def _wildcard_lookup(call_site: str | None, like: tuple[str, ...]) -> str | None:
    """Return the lookup on the call site's line that puts % first, if known.

    Known only when every column compared with LIKE is the field of such a
    lookup there (``name__icontains`` for ``shop_author.name``) and the line
    has no ``startswith`` lookup, whose pattern has no leading %.
    """
    if not call_site:
        return None
    path, _, line_text = call_site.rpartition(":")
    if not path or not line_text.isdigit():
        return None
    if not os.path.isabs(path):
        base = getattr(settings, "BASE_DIR", None) if settings.configured else None
        path = os.path.join(str(base) if base else os.getcwd(), path)
    # An edited file is read again.
    linecache.checkcache(path)
    line = linecache.getline(path, int(line_text))
    # author__name__icontains filters the related model's "name" column.
    lookups = {
        m["field"].rpartition("__")[2]: m["lookup"]
        for m in _WILDCARD_LOOKUP.finditer(line)
    }
    fields = [column.rpartition(".")[2] for column in like]
    if not lookups or not all(field in lookups for field in fields):
        return None
    # A prefix lookup on the same line is a LIKE without the leading %,
    # which the recorded SQL may not show: SQLite's ESCAPE '\' hides what
    # follows it from the fingerprint.
    if _PREFIX_LOOKUP.search(line):
        return None
    return lookups[fields[0]]
