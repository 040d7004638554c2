"""Reduce SQL to a fingerprint that is the same whatever its literal values."""

from __future__ import annotations

import functools
import re

# One left-to-right scan, so that a quote, comment or number is judged only
# where it really starts: a quote inside a comment, or digits inside a quoted
# identifier, never start a token of their own. Quoted runs are written as
# "unrolled loops" (a run of plain characters, then an escape, repeated):
# an alternation inside the repetition costs several times as much.
_TOKEN = re.compile(
    r"""
      (?P<estring>(?<![\w$])[Ee]'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')
    | (?P<string>(?:(?<![\w$])(?:[NnXxBb]|[Uu]&))?'[^']*(?:''[^']*)*')
    | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*|)\$.*?\$(?P=tag)\$)
    | (?P<ident>"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`)
    | (?P<space>(?:\s+|--[^\n]*|/\*.*?\*/)+)
    | (?P<percent>%%)
    | (?P<param>%\(\w+\)s|%s|\?|(?<![:\w]):\w+|(?<![\w$])\$\d+)
    | (?P<number>
        (?<![\w$.])
        (?:0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
        (?![\w$])
      )
    """,
    re.VERBOSE | re.DOTALL,
)

# A minus before a literal is a sign, not subtraction, when what precedes it
# cannot end an operand: an operator, an opening parenthesis, a comma or one
# of the keywords after which an expression starts.
_NEGATIVE = re.compile(
    r"""
    (^|[=<>(,+\-*/%]|\b(?:SELECT|WHERE|AND|OR|NOT|WHEN|THEN|ELSE|IN|BETWEEN
        |LIMIT|OFFSET|VALUES|RETURN|IS|LIKE|SET|CASE|BY|ON|HAVING))
    (\ ?)-\ ?\?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_IN_LIST = re.compile(r"\b(IN) ?\( ?\?(?: ?, ?\?)* ?\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"\b(VALUES ?)(\([^()]*\))(?: ?, ?\2)+", re.IGNORECASE)

_CACHE_SIZE = 4096
# Longer statements (large bulk inserts) are fingerprinted without caching,
# so that the cache's memory stays bounded by entries times this length.
_MAX_CACHED_CHARS = 8192


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "ident" or kind == "percent":
        return match.group()
    if kind == "space":
        return " "
    return "?"


def _compute(sql: str) -> str:
    text = _TOKEN.sub(_replace, sql).strip()
    if "-" in text:
        text = _NEGATIVE.sub(r"\1\2?", text)
    text = _IN_LIST.sub(r"\1 (...)", text)
    return _VALUES_ROWS.sub(r"\1\2", text)


_cached_compute = functools.lru_cache(maxsize=_CACHE_SIZE)(_compute)


def fingerprint(sql: str) -> str:
    """Return ``sql`` with every literal and placeholder replaced by ``?``.

    String, numeric (signed, decimal, exponent, hex) and dollar-quoted
    literals and the placeholders ``%s``, ``%(name)s``, ``?``, ``:name`` and
    ``$1`` become ``?``; an ``IN`` list of them becomes ``IN (...)`` whatever
    its length, and identical rows after ``VALUES`` collapse to one. Comments
    and whitespace runs become one space. Quoted identifiers and keywords are
    kept exactly as written: keywords are not upper-cased, because Django
    always writes them the same way and matching case would cost a keyword
    table. Results are cached by the raw SQL. Never raises for odd SQL; text
    the scanner does not recognise is kept.
    """
    if len(sql) > _MAX_CACHED_CHARS:
        return _compute(sql)
    return _cached_compute(sql)


def cache_clear() -> None:
    """Empty the fingerprint cache (for tests and benchmarks)."""
    _cached_compute.cache_clear()


def cache_size() -> int:
    """Return how many fingerprints the cache holds."""
    return _cached_compute.cache_info().currsize
