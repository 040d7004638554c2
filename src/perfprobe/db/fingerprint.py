"""Reduce SQL to a fingerprint that is the same whatever its literal values.

What is normalised: single-quoted strings (with the ``E``, ``N``, ``X``,
``B`` and ``U&`` prefixes), dollar-quoted strings, numbers and placeholders
become ``?``; comments and whitespace become one space. Block comments
nest, as on PostgreSQL; where the nested and the flat (SQLite, MySQL)
readings of a comment disagree, text that either reading takes for a
comment or a literal is replaced. A quote, dollar quote or block comment
left open runs to the end of the statement, so an unterminated literal is
replaced rather than kept. Backslashes inside
single-quoted strings escape the next character on MySQL but not in
standard SQL; when the SQL holds a backslash, text that is inside a string
literal under either reading is replaced, which can hide some structure
but never keeps a literal. Where the database is known to read every
backslash as itself (SQLite), the standard reading alone is used, so that
Django's ``LIKE ... ESCAPE '\\'`` keeps the rest of its statement.

What is not: double-quoted and backquoted runs are kept as identifiers,
which is what they are on PostgreSQL and in all the SQL Django generates;
SQLite and MySQL (outside ANSI_QUOTES mode) also accept ``"..."`` as a
string literal, and such a hand-written literal is kept verbatim. Keywords
keep their case, and vendor syntaxes such as Oracle's ``q'[...]'`` are
read as plain SQL.
"""

from __future__ import annotations

import functools
import re

# One left-to-right scan, so that a quote, comment or number is judged only
# where it really starts: a quote inside a comment, or digits inside a quoted
# identifier, never start a token of their own. Quoted runs are written as
# "unrolled loops" (a run of plain characters, then an escape, repeated):
# an alternation inside the repetition costs several times as much. A string
# or comment may end at the end of the text (\Z): an unterminated one is
# still a literal or a comment, never text to keep.
#
# Block comments nest on PostgreSQL and in the SQL standard, but not on
# SQLite or MySQL, and no regular expression can count the depth. So the
# scan takes a block comment in one match only when it holds no "/*"; one
# that does is a "nested" token, which sends the statement to the slower
# path (_mask_comment_readings) that reads it both ways. Hiding a nested
# comment whole is the safe choice for privacy everywhere: on SQLite and
# MySQL the tail after the first "*/" is rarely valid SQL, and where it is,
# reading it both ways replaces whatever either reading hides.
#
# Numbers take PostgreSQL 16's forms too (1_000, 0x_1F, 0o17, 0b101). A
# digit after a letter, digit or "_" starts no number, so t1_0 and col_1
# stay names; MySQL's unquoted names that start with a digit (1_a is legal
# there, Django always quotes them) may become "?".
_TOKENS = r"""
      (?P<estring>(?<![\w$])[Ee]'[^'\\]*(?:(?:\\.|'')[^'\\]*)*(?:'|\\?\Z))
    | (?P<string>{string})
    | (?P<dollar>(?<![\w$])\$(?P<tag>[A-Za-z_]\w*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<ident>"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`)
    | (?P<space>(?:\s+|--[^\n]*|/\*[^*/]*(?:(?:\*(?!/)|/(?!\*))[^*/]*)*(?:\*/|\Z))+)
    | (?P<nested>/\*)
    | (?P<percent>%%)
    | (?P<param>%(?:\(\w+\))?[sbt]|\?|(?<![:\w]):\w+|(?<![\w$])\$\d+)
    | (?P<number>
        (?<![\w$.])
        (?:
            0[xX]_?[0-9A-Fa-f]+(?:_[0-9A-Fa-f]+)*
          | 0[oO]_?[0-7]+(?:_[0-7]+)*
          | 0[bB]_?[01]+(?:_[01]+)*
          | (?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)
            (?:[eE][+-]?\d+(?:_\d+)*)?
        )
        (?![\w$])
      )
    """
_PREFIX = r"(?:(?<![\w$])(?:[NnXxBb]|[Uu]&))?"
# Standard SQL: a quote inside a string is written twice.
_TOKEN = re.compile(
    _TOKENS.format(string=_PREFIX + r"'[^']*(?:''[^']*)*(?:'|\Z)"),
    re.VERBOSE | re.DOTALL,
)
# MySQL (and PostgreSQL without standard_conforming_strings): a backslash
# also escapes the character after it.
_BACKSLASH_TOKEN = re.compile(
    _TOKENS.format(string=_PREFIX + r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*(?:'|\\?\Z)"),
    re.VERBOSE | re.DOTALL,
)
_QUOTED = ("estring", "string", "dollar")
_COMMENT_EDGE = re.compile(r"/\*|\*/")

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

# A "?" written over a literal, then a character that a lookbehind above
# tested against the literal's own last character: "%s1", "$$x$$$1", "1:n".
# The first scan left that token alone; a scan of the result would not.
_GLUED_AFTER_LITERAL = re.compile(r"\?[\w$:.]")
# Each rescan frees one more token of a glued chain; real SQL needs one at
# most, so a statement still changing after these is hidden whole.
_MAX_RESCANS = 8

# Vendors (Django's connection.vendor) on which a backslash in a string is
# never an escape: SQLite has no escapes in its string literals at all.
# PostgreSQL reads backslashes as escapes when standard_conforming_strings is
# off, which a server, database or role may set and Django does not check;
# its E'...' strings escape them always. MySQL escapes them unless
# NO_BACKSLASH_ESCAPES is set. Those, and any vendor not listed, get both
# readings.
STANDARD_STRING_VENDORS = frozenset({"sqlite"})

_CACHE_SIZE = 4096
# Longer statements (large bulk inserts) are fingerprinted without caching,
# so that the cache's memory stays bounded by entries times this length.
_MAX_CACHED_CHARS = 8192


class _NestedComment(Exception):
    """Signal that the scan met a block comment holding another "/*"."""

    def __init__(self, start: int) -> None:
        super().__init__(start)
        self.start = start


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "ident" or kind == "percent":
        return match.group()
    if kind == "space":
        return " "
    if kind == "nested":
        raise _NestedComment(match.start())
    return "?"


def _quoted_spans(pattern: re.Pattern[str], sql: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(sql) if m.lastgroup in _QUOTED]


def _mask_either_reading(sql: str) -> str:
    """Return ``sql`` with every run that either reading takes for a literal as ''.

    The two readings part at the first ``\\'`` and may never agree again, so
    neither alone is safe: what one keeps as SQL, the other may hold inside
    a string. Overlapping and touching runs merge into one.
    """
    spans = sorted(_quoted_spans(_TOKEN, sql) + _quoted_spans(_BACKSLASH_TOKEN, sql))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    position = 0
    for start, end in merged:
        parts += (sql[position:start], "''")
        position = end
    parts.append(sql[position:])
    return "".join(parts)


def _comment_end(sql: str, start: int, nest: bool) -> int:
    """Return where the block comment opened at ``start`` ends (or the end)."""
    if not nest:
        end = sql.find("*/", start + 2)
        return len(sql) if end < 0 else end + 2
    depth = 0
    for edge in _COMMENT_EDGE.finditer(sql, start + 2):
        if edge.group() == "/*":
            depth += 1
        elif depth == 0:
            return edge.end()
        else:
            depth -= 1
    return len(sql)


def _hidden_spans(
    pattern: re.Pattern[str], sql: str, nest: bool
) -> list[tuple[int, int, bool]]:
    """Return ``(start, end, is_literal)`` of every comment and literal in ``sql``.

    The scan reads ``sql`` as ``pattern`` does, with block comments nesting
    or not as ``nest`` says.
    """
    spans: list[tuple[int, int, bool]] = []
    position = 0
    while match := pattern.search(sql, position):
        start, end = match.span()
        kind = match.lastgroup
        if kind == "nested":
            end = _comment_end(sql, start, nest)
            spans.append((start, end, False))
        elif kind in _QUOTED:
            spans.append((start, end, True))
        elif kind == "space" and not match.group().isspace():
            spans.append((start, end, False))
        # No token can be empty; the max keeps the loop finite should one.
        position = max(end, start + 1)
    return spans


def _mask_comment_readings(sql: str, backslash_escapes: bool) -> str:
    """Return ``sql`` with what any reading hides as a comment or literal masked.

    The readings are nested and flat comments, each without and (when
    ``backslash_escapes`` and the SQL holds a backslash and a quote) with
    backslash escapes. A masked run
    becomes ``''`` if some reading holds a literal there, else one space.
    Runs that overlap merge; literal runs also merge when they touch.
    """
    patterns = [_TOKEN]
    if backslash_escapes and "\\" in sql and "'" in sql:
        patterns.append(_BACKSLASH_TOKEN)
    spans = sorted(
        span
        for pattern in patterns
        for nest in (True, False)
        for span in _hidden_spans(pattern, sql, nest)
    )
    merged: list[tuple[int, int, bool]] = []
    for start, end, is_literal in spans:
        if merged:
            last_start, last_end, last_literal = merged[-1]
            touching_literals = start == last_end and is_literal and last_literal
            if start < last_end or touching_literals:
                merged[-1] = (
                    last_start,
                    max(last_end, end),
                    last_literal or is_literal,
                )
                continue
        merged.append((start, end, is_literal))
    parts: list[str] = []
    position = 0
    for start, end, is_literal in merged:
        parts += (sql[position:start], "''" if is_literal else " ")
        position = end
    parts.append(sql[position:])
    return "".join(parts)


def _scan(sql: str, backslash_escapes: bool) -> str:
    if backslash_escapes and "\\" in sql and "'" in sql:
        sql = _mask_either_reading(sql)
    return _TOKEN.sub(_replace, sql)


def _scan_until_stable(text: str, backslash_escapes: bool) -> str:
    """Rescan ``text`` (once scanned) until no token glued to a ``?`` is left.

    Without this, fingerprinting a fingerprint could change it again.
    """
    for _ in range(_MAX_RESCANS):
        if not _GLUED_AFTER_LITERAL.search(text):
            return text
        try:
            again = _scan(text, backslash_escapes)
        except _NestedComment:
            return "?"
        if again == text:
            return text
        text = again
    return "?"


def _compute(sql: str, backslash_escapes: bool = True) -> str:
    try:
        text = _scan(sql, backslash_escapes)
    except _NestedComment:
        masked = _mask_comment_readings(sql, backslash_escapes)
        try:
            text = _scan(masked, backslash_escapes)
        except _NestedComment as left:
            # Masking leaves no comment opener outside identifiers in any
            # reading, so this is not expected; if one shows, hide the rest.
            text = _scan(masked[: left.start], backslash_escapes)
    text = _scan_until_stable(text, backslash_escapes).strip()
    if "-" in text:
        text = _NEGATIVE.sub(r"\1\2?", text)
    text = _IN_LIST.sub(r"\1 (...)", text)
    return _VALUES_ROWS.sub(r"\1\2", text)


_cached_compute = functools.lru_cache(maxsize=_CACHE_SIZE)(_compute)
# A second cache rather than a (sql, vendor) key: a hit on either stays one
# call with the SQL text alone. A process rarely talks to both kinds of
# database, so one of the two stays nearly empty.
_cached_standard = functools.lru_cache(maxsize=_CACHE_SIZE)(
    functools.partial(_compute, backslash_escapes=False)
)


def fingerprint(sql: str, vendor: str | None = None) -> str:
    """Return ``sql`` with every literal and placeholder replaced by ``?``.

    String, numeric (signed, decimal, exponent, hex) and dollar-quoted
    literals and the placeholders ``%s``, ``%(name)s`` (and psycopg 3's
    binary and text forms ``%b``, ``%t``), ``?``, ``:name`` and ``$1``
    become ``?``; an ``IN`` list of them becomes ``IN (...)`` whatever
    its length, and identical rows after ``VALUES`` collapse to one. Comments
    and whitespace runs become one space. Quoted identifiers and keywords are
    kept exactly as written: keywords are not upper-cased, because Django
    always writes them the same way and matching case would cost a keyword
    table. ``vendor`` is the ``connection.vendor`` the SQL was sent to: on
    one of ``STANDARD_STRING_VENDORS`` a backslash in a string is read as
    itself; on any other, or ``None``, text that is a literal under either
    reading of a backslash is replaced. Results are cached by the raw SQL.
    Never raises for odd SQL; text the scanner does not recognise is kept.
    """
    if vendor in STANDARD_STRING_VENDORS:
        if len(sql) > _MAX_CACHED_CHARS:
            return _compute(sql, False)
        return _cached_standard(sql)
    if len(sql) > _MAX_CACHED_CHARS:
        return _compute(sql)
    return _cached_compute(sql)


def cache_clear() -> None:
    """Empty the fingerprint caches (for tests and benchmarks)."""
    _cached_compute.cache_clear()
    _cached_standard.cache_clear()


def cache_size() -> int:
    """Return how many fingerprints the caches hold."""
    return (
        _cached_compute.cache_info().currsize + _cached_standard.cache_info().currsize
    )
