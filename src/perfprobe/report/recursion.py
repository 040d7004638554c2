"""Read a recursive CTE's text: what ends its recursion, and what each step reads.

A recursive CTE runs its recursive part again and again until it returns no
rows. What to do about a slow one depends on what ends it: nothing (it runs
until a timeout stops it), a condition on its own counter (it runs as many
steps as the bound allows), or the rows of another table it walks (a tree:
each step is a join, which an index helps). Only the SQL text is read, with
a small scanner that knows parentheses, quoted names, strings and comments
(read as spaces: the text is the statement as run, which a person may have
commented); a statement it cannot take apart gives ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Recursion", "is_recursive", "read_recursion"]

_WITH_RECURSIVE = re.compile(r"\(*\s*WITH\s+RECURSIVE\b", re.IGNORECASE)
# Words, quoted names, strings, parentheses, commas, dots; anything else
# skipped.
# A bracketed name holds no "[": an unclosed "[" then fails at the next one,
# not at the end of the text, which made 100 KB of "[" take seconds.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\[\]]*\]|[A-Za-z_][\w$]*|[(),.]"""
)
_ENDS_WHERE = {"GROUP", "ORDER", "HAVING", "WINDOW", "UNION", "LIMIT", "OFFSET"}
_FROM_ENDS = {"WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "WINDOW", "UNION"}
_JOIN_WORDS = {"JOIN", "FROM"}
# Words between FROM or JOIN and the table they name.
_BEFORE_TABLE = {"LATERAL", "ONLY"}
# Quoted runs, kept, and comments, blanked; one left-to-right scan, so a
# quote inside a comment or "--" inside a string is neither.
_QUOTED_OR_COMMENT = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\[\]]*\]"""
    r"|(--[^\n]*|/\*.*?(?:\*/|\Z))",
    re.DOTALL,
)
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
# What makes the outer query read every row the CTE makes, so that a LIMIT
# on it cannot stop the recursion early.
_READS_ALL = re.compile(
    r"\b(COUNT|SUM|AVG|MIN|MAX|GROUP_CONCAT|STRING_AGG|ARRAY_AGG)\s*\(|"
    r"\bGROUP\s+BY\b|\bORDER\s+BY\b|\bDISTINCT\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Recursion:
    """What a recursive CTE's recursive part does at each step.

    ``bound`` is its own ``WHERE ...`` or ``LIMIT ...`` as written (``""``
    when it has none); ``tables`` the tables other than the CTEs that it
    reads, as written; ``outer_reads_all`` whether the statement after the
    CTEs aggregates, sorts or de-duplicates, reading every row they make.
    """

    name: str
    bound: str
    tables: tuple[str, ...]
    outer_reads_all: bool


def is_recursive(sql: str) -> bool:
    """Return whether ``sql`` starts ``WITH RECURSIVE`` (any case and spacing)."""
    # Only the leading comments matter here: no need to scan a long INSERT.
    start = _LEADING.match(sql)
    return _WITH_RECURSIVE.match(sql, start.end() if start else 0) is not None


def _blanked(text: str, quoted: bool = False) -> str:
    """Return ``text`` with its comments (and, if ``quoted``, quoted runs) as
    spaces, every character where it was."""

    def blank(match: re.Match[str]) -> str:
        if quoted or match.group(1) is not None:
            return " " * (match.end() - match.start())
        return match.group(0)

    return _QUOTED_OR_COMMENT.sub(blank, text)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _unquote(name: str) -> str:
    if name[:1] in ('"', "`", "[") and len(name) >= 2:
        return name[1:-1]
    return name


def read_recursion(sql: str) -> Recursion | None:
    """Return what the first self-referencing CTE of ``sql`` does, if any."""
    text = _blanked(sql).lstrip()
    match = _WITH_RECURSIVE.match(text)
    if match is None:
        return None
    tokens = _tokens(text[match.end() :])
    offset = match.end()
    ctes: list[tuple[str, int, int]] = []  # name, body start, body end
    i = 0
    outer_start = len(text)
    while i < len(tokens):
        name = _unquote(tokens[i][0])
        i += 1
        if i < len(tokens) and tokens[i][0] == "(":
            i = _skip_group(tokens, i)
        # "AS", maybe "[NOT] MATERIALIZED", then the body in parentheses.
        while i < len(tokens) and tokens[i][0] != "(":
            i += 1
        if i >= len(tokens):
            return None
        end = _skip_group(tokens, i)
        if end > len(tokens):
            return None
        ctes.append((name, offset + tokens[i][2], offset + tokens[end - 1][1]))
        i = end
        if i < len(tokens) and tokens[i][0] == ",":
            i += 1
            continue
        outer_start = offset + tokens[i][1] if i < len(tokens) else len(text)
        break
    names = {name.lower() for name, _, _ in ctes}
    for name, start, end in ctes:
        body = text[start:end]
        member = _recursive_member(body)
        if member is None:
            continue
        words = _top_level(member)
        upper = [w.upper() for w in words]
        read = _tables_read(words, upper)
        if name.lower() not in {t.lower() for t in read}:
            continue
        return Recursion(
            name=name,
            bound=_bound(member),
            tables=tuple(t for t in read if t.lower() not in names),
            outer_reads_all=bool(
                _READS_ALL.search(_blanked(text[outer_start:], quoted=True))
            ),
        )
    return None


def _skip_group(tokens: list[tuple[str, int, int]], i: int) -> int:
    """Return the index just past the parenthesised group opening at ``i``."""
    depth = 0
    while i < len(tokens):
        token = tokens[i][0]
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(tokens) + 1


def _recursive_member(body: str) -> str | None:
    """Return the part of a CTE body after its last top-level UNION."""
    depth = 0
    last = None
    for token, _start, end in _tokens(body):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token.upper() == "UNION":
            last = end
    if last is None:
        return None
    member = body[last:].lstrip()
    if member[:3].upper() == "ALL":
        member = member[3:]
    return member.strip()


def _top_level(member: str) -> list[str]:
    """Return the tokens of ``member`` outside any parentheses, "(" kept once."""
    depth = 0
    words = []
    for token, _, _ in _tokens(member):
        if token == "(":
            if depth == 0:
                words.append("(")
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            words.append(token)
    return words


def _tables_read(words: list[str], upper: list[str]) -> list[str]:
    """Return the tables named after FROM, JOIN and the commas of a FROM list.

    A qualified name is kept whole (``public.node``); each table once.
    """
    found: list[str] = []
    in_from = False
    expect = False
    # 1 just after a table's name, 2 after its "." too.
    named = 0
    for word, key in zip(words, upper, strict=True):
        if named == 2 and word not in "(),.":
            found[-1] += f".{_unquote(word)}"
            named = 1
            continue
        named = 2 if named == 1 and word == "." else 0
        if key in _JOIN_WORDS:
            in_from = True
            expect = True
        elif key in _FROM_ENDS:
            in_from = False
            expect = False
        elif expect and key in _BEFORE_TABLE:
            continue
        elif expect:
            if word not in "(),.":
                found.append(_unquote(word))
                named = 1
            expect = False
        elif in_from and word == ",":
            expect = True
    return list(dict.fromkeys(found))


def _bound(member: str) -> str:
    """Return the recursive part's top-level ``WHERE ...`` or ``LIMIT ...``."""
    depth = 0
    top: list[tuple[str, int]] = []
    for token, start, _ in _tokens(member):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            top.append((token.upper(), start))
    for key in ("WHERE", "LIMIT"):
        for index, (word, start) in enumerate(top):
            if word != key:
                continue
            end = next(
                (at for later, at in top[index + 1 :] if later in _ENDS_WHERE),
                len(member),
            )
            return " ".join(member[start:end].split())
    return ""
