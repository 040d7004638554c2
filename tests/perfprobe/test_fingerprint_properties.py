"""Property-based tests for perfprobe.db.fingerprint, from a grammar of SQL.

The grammar builds each statement twice: as SQL with literals, comments and
odd whitespace, and as the fingerprint it must have, written from the
grammar alone (a ``?`` where a literal was, one space between tokens,
``IN (...)`` for a list). Every literal carries ``SENTINEL`` or digits, so a
literal that survives is found directly as well.

The default run is quick and repeatable (``derandomize``, no example
database); the stress group runs the same properties on many more examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from perfprobe.db.fingerprint import fingerprint

#: In every string-like literal; no keyword or name holds it.
SENTINEL = "ZQJ"

QUICK = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# The stress group's run of the same properties.
THOROUGH = settings(QUICK, max_examples=4000)

_TABLES = ["shop_order", "shop_customer", "product", "inventory_item"]
_COLUMNS = ["id", "name", "price", "created_at", "customer_id", "quantity"]
_OPERATORS = ["=", "<>", "<", ">", "<=", ">=", "LIKE", "!="]
# Text inside comments may hold quotes and markers of other tokens; text
# inside a nested comment may not, because the flat (SQLite, MySQL) reading
# takes its tail for SQL, where a quote opens a literal on purpose.
_FLAT_COMMENT_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="*/\\\n"),
    max_size=12,
)
_NESTED_COMMENT_TEXT = st.text("abc xyz,.;=()", max_size=8)
# Literal text: any character but the backslash (see _BACKSLASH_TEXT) and
# the surrogates a str can hold but no SQL driver accepts.
_LITERAL_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\\"),
    max_size=16,
)
_BACKSLASH_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=16).map(
    lambda text: "\\" + text
)
_QUOTED_NAME = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=10,
).filter(lambda name: SENTINEL not in name)


@dataclass(frozen=True)
class Statement:
    """One generated statement: its tokens, as written and as fingerprinted.

    ``gaps`` are the whitespace and comments written between the tokens.
    """

    tokens: tuple[tuple[str, str], ...]
    gaps: tuple[str, ...]

    @property
    def sql(self) -> str:
        """Return the statement as SQL."""
        parts = [self.tokens[0][0]]
        for gap, (written, _) in zip(self.gaps, self.tokens[1:], strict=True):
            parts += [gap, written]
        return "".join(parts)

    @property
    def expected(self) -> str:
        """Return the fingerprint the grammar says the statement has."""
        return " ".join(shape for _, shape in self.tokens if shape)

    def renamed(self, index: int, name: str) -> Statement:
        """Return this statement with the name token at ``index`` replaced."""
        tokens = list(self.tokens)
        tokens[index] = (name, name)
        return Statement(tuple(tokens), self.gaps)


def _case(draw: st.DrawFn, keyword: str) -> str:
    return draw(st.sampled_from([keyword, keyword.lower(), keyword.title()]))


@st.composite
def separators(draw: st.DrawFn) -> str:
    """Return whitespace or a comment, each of which fingerprints to one space."""
    kind = draw(st.sampled_from(["space", "spaces", "block", "line", "nested"]))
    if kind == "space":
        return " "
    if kind == "spaces":
        return draw(st.sampled_from(["\n", "\t ", "  \r\n  "]))
    if kind == "block":
        return f" /*{draw(_FLAT_COMMENT_TEXT)}*/ "
    if kind == "line":
        return f" --{draw(_FLAT_COMMENT_TEXT)}\n"
    inner = draw(_NESTED_COMMENT_TEXT)
    return f" /* {inner} /* {draw(_NESTED_COMMENT_TEXT)} */ {inner} */ "


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def literals(draw: st.DrawFn, text: st.SearchStrategy[str] = _LITERAL_TEXT) -> str:
    """Return one SQL literal or placeholder of any supported kind."""
    body = SENTINEL + draw(text)
    kind = draw(
        st.sampled_from(
            [
                "string",
                "national",
                "escape",
                "dollar",
                "tagged_dollar",
                "hex_blob",
                "bit",
                "date",
                "integer",
                "decimal",
                "exponent",
                "hex_number",
                "pg16_number",
                "placeholder",
            ]
        )
    )
    if kind == "string":
        return _quote(body)
    if kind == "national":
        return draw(st.sampled_from(["N", "n", "U&"])) + _quote(body)
    if kind == "escape":
        escaped = body.replace("\\", "\\\\").replace("'", "\\'")
        return draw(st.sampled_from(["E", "e"])) + f"'{escaped}'"
    if kind == "dollar":
        return "$$" + body.replace("$", "") + "$$"
    if kind == "tagged_dollar":
        return "$q$" + body.replace("$", "") + "$q$"
    if kind == "hex_blob":
        digits = draw(st.text("0123456789ABCDEFabcdef", min_size=1, max_size=8))
        return draw(st.sampled_from(["X", "x"])) + f"'{digits}'"
    if kind == "bit":
        return "B'" + draw(st.text("01", min_size=1, max_size=8)) + "'"
    if kind == "date":
        return draw(
            st.sampled_from(
                [
                    "'2024-02-29'",
                    "'2024-02-29 23:59:59.999+01'",
                    "'1 day 02:00'",
                ]
            )
        )
    if kind == "integer":
        return str(draw(st.integers(min_value=0, max_value=10**30)))
    if kind == "decimal":
        value = draw(
            st.decimals(min_value=0, max_value=10**9, allow_nan=False, places=3)
        )
        return draw(st.sampled_from([str(value), ".5", "0.0"]))
    if kind == "exponent":
        return draw(st.sampled_from(["1e10", "2.5E-3", "6.02e+23", ".5e1", "5."]))
    if kind == "hex_number":
        return draw(st.sampled_from(["0x1F", "0XdeadBEEF", "0x0"]))
    if kind == "pg16_number":
        return draw(st.sampled_from(["1_000_000", "0x_FF", "0o17", "0b1010_1"]))
    return draw(st.sampled_from(["%s", "%(name)s", "?", ":name", "$1", "%b", "%t"]))


@st.composite
def names(draw: st.DrawFn, pool: list[str]) -> tuple[str, str]:
    """Return a name as written and as it stays: bare or quoted, any content."""
    name = draw(st.sampled_from(pool))
    style = draw(st.sampled_from(["bare", "double", "back", "odd"]))
    if style == "bare":
        return name, name
    if style == "double":
        return f'"{name}"', f'"{name}"'
    if style == "back":
        return f"`{name}`", f"`{name}`"
    odd = draw(_QUOTED_NAME)
    written = '"' + name + odd.replace('"', '""') + '"'
    return written, written


@st.composite
def statements(
    draw: st.DrawFn, text: st.SearchStrategy[str] = _LITERAL_TEXT
) -> Statement:
    """Return a SELECT, INSERT, UPDATE or DELETE with its expected fingerprint."""
    # Each token is (as written, as fingerprinted); structure lists the
    # tokens that are not literals, to tell statements apart.
    tokens: list[tuple[str, str]] = []

    def literal() -> None:
        tokens.append((draw(literals(text)), "?"))

    def condition() -> None:
        column = draw(names(_COLUMNS))
        tokens.append(column)
        form = draw(st.sampled_from(["compare", "negative", "in", "between", "typed"]))
        if form == "compare":
            operator = draw(st.sampled_from(_OPERATORS))
            tokens.append((operator, operator))
            literal()
        elif form == "negative":
            tokens.append(("=", "="))
            number = draw(st.sampled_from(["-5", "- 2.5", "-0x1F", "-1e3"]))
            tokens.append((number, "?"))
        elif form == "in":
            word = _case(draw, "IN")
            count = draw(st.integers(min_value=1, max_value=6))
            written = ["(", draw(literals(text))]
            for _ in range(count - 1):
                written += [",", draw(literals(text))]
            written.append(")")
            tokens.append((word + " " + " ".join(written), word + " (...)"))
        elif form == "between":
            tokens.append(("BETWEEN", "BETWEEN"))
            literal()
            tokens.append(("AND", "AND"))
            literal()
        else:
            word = draw(st.sampled_from(["DATE", "TIMESTAMP", "INTERVAL"]))
            tokens.append(("=", "="))
            tokens.append((word, word))
            literal()

    def where() -> None:
        tokens.append(("WHERE", "WHERE"))
        condition()
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            joiner = draw(st.sampled_from(["AND", "OR"]))
            tokens.append((joiner, joiner))
            condition()

    table = draw(names(_TABLES))
    kind = draw(st.sampled_from(["select", "insert", "update", "delete"]))
    if kind == "select":
        tokens.append(("SELECT", "SELECT"))
        for index, column in enumerate(draw(st.lists(names(_COLUMNS), min_size=1))):
            if index:
                tokens.append((",", ","))
            tokens.append(column)
        tokens += [("FROM", "FROM"), table]
        if draw(st.booleans()):
            where()
        if draw(st.booleans()):
            tokens.append(("LIMIT", "LIMIT"))
            literal()
    elif kind == "insert":
        columns = draw(st.lists(names(_COLUMNS), min_size=1, max_size=4))
        tokens += [("INSERT", "INSERT"), ("INTO", "INTO"), table, ("(", "(")]
        for index, column in enumerate(columns):
            if index:
                tokens.append((",", ","))
            tokens.append(column)
        tokens += [(")", ")"), ("VALUES", "VALUES")]
        rows = draw(st.integers(min_value=1, max_value=3))
        for row in range(rows):
            written = " ".join(
                ["(", " , ".join(draw(literals(text)) for _ in columns), ")"]
            )
            shape = "( " + " , ".join("?" for _ in columns) + " )"
            # Identical rows after VALUES collapse to the first.
            tokens.append(((" , " if row else "") + written, "" if row else shape))
    elif kind == "update":
        tokens += [("UPDATE", "UPDATE"), table, ("SET", "SET")]
        tokens += [draw(names(_COLUMNS)), ("=", "=")]
        literal()
        where()
    else:
        tokens += [("DELETE", "DELETE"), ("FROM", "FROM"), table]
        where()

    # Keywords in any case: the fingerprint keeps the case as written.
    tokens = [
        (cased, cased) if written == shape and written.isupper() else (written, shape)
        for written, shape in tokens
        for cased in [_case(draw, written)]
    ]
    gaps = [draw(separators()) for _ in tokens[1:]]
    return Statement(tuple(tokens), tuple(gaps))


def _bare(written: str) -> str:
    """Return a name without its quotes (the same text when it has none)."""
    if len(written) > 1 and written[0] in '"`' and written[-1] == written[0]:
        return written[1:-1]
    return written


_QUOTED_RUN = re.compile(r'"[^"]*(?:""[^"]*)*"|`[^`]*`')


def _outside_identifiers(text: str) -> str:
    return _QUOTED_RUN.sub(" ", text)


def check_literals_are_stripped(statement: Statement) -> None:
    """Assert that no literal's text or digit is left outside identifiers."""
    result = _outside_identifiers(fingerprint(statement.sql))
    assert SENTINEL not in result
    assert not re.search(r"\d", result), result


# -- the default, quick run ---------------------------------------------------


@QUICK
@given(st.text(st.characters(blacklist_categories=[]), max_size=200))
def test_fingerprint_never_raises_on_any_text(text: str) -> None:
    """Any string at all, lone surrogates and NULs included, gives a string back."""
    assert isinstance(fingerprint(text), str)


@QUICK
@given(
    st.lists(
        st.sampled_from(
            [
                "'",
                '"',
                "`",
                "$$",
                "$a$",
                "/*",
                "*/",
                "--",
                "\\",
                "\n",
                "1",
                "x",
                "%s",
                "?",
                ":n",
                "IN (",
                ",",
                ")",
                "-",
                "E'",
                "X'",
                "%%",
                " ",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_fingerprint_never_raises_on_token_soup(text: str) -> None:
    """Openers and closers of every token kind in any order give a string back."""
    assert isinstance(fingerprint(text), str)
    assert fingerprint(fingerprint(text)) == fingerprint(text)


@QUICK
@given(statements())
def test_fingerprint_matches_the_grammars_shape(statement: Statement) -> None:
    """A statement fingerprints to its grammar's shape with each literal as ``?``."""
    assert fingerprint(statement.sql) == statement.expected
    check_literals_are_stripped(statement)


@QUICK
@given(statements(_BACKSLASH_TEXT))
def test_fingerprint_strips_literals_holding_backslashes(
    statement: Statement,
) -> None:
    """With backslashes in literals (read either way) no literal text is kept."""
    check_literals_are_stripped(statement)


@QUICK
@given(st.one_of(statements(), statements(_BACKSLASH_TEXT)))
def test_sqlite_reading_gives_the_exact_shape_with_backslashes(
    statement: Statement,
) -> None:
    """On SQLite a backslash is plain text: the exact shape, no literal kept."""
    once = fingerprint(statement.sql, "sqlite")
    assert once == statement.expected
    assert fingerprint(once, "sqlite") == once
    result = _outside_identifiers(once)
    assert SENTINEL not in result
    assert not re.search(r"\d", result), result


@QUICK
@given(st.one_of(statements(), statements(_BACKSLASH_TEXT), st.text(max_size=80)))
def test_fingerprint_is_idempotent(statement: Statement | str) -> None:
    """Fingerprinting a fingerprint changes nothing."""
    sql = statement.sql if isinstance(statement, Statement) else statement
    once = fingerprint(sql)
    assert fingerprint(once) == once


@QUICK
@given(statements(), statements())
def test_fingerprint_keeps_distinct_statements_distinct(
    first: Statement, second: Statement
) -> None:
    """Statements of different table, column or operator structure never merge."""
    same_shape = first.expected == second.expected
    assert (fingerprint(first.sql) == fingerprint(second.sql)) == same_shape


@QUICK
@given(statements(), st.data())
def test_fingerprint_tells_one_changed_name_or_operator(
    statement: Statement, data: st.DataObject
) -> None:
    """Changing one table, column or operator in a statement changes its print."""
    pool = _TABLES + _COLUMNS + _OPERATORS
    where = [
        i for i, (written, _) in enumerate(statement.tokens) if _bare(written) in pool
    ]
    assume(where)
    index = data.draw(st.sampled_from(where))
    written = statement.tokens[index][0]
    word = _bare(written)
    kind = _OPERATORS if word in _OPERATORS else _TABLES + _COLUMNS
    other = data.draw(st.sampled_from([w for w in kind if w != word]))
    other = written.replace(word, other) if written != word else other
    changed = statement.renamed(index, other)
    assert fingerprint(changed.sql) == changed.expected
    assert fingerprint(changed.sql) != fingerprint(statement.sql)


# -- the stress group: the same properties, many more examples -----------------


@pytest.mark.stress
@THOROUGH
@given(st.one_of(statements(), statements(_BACKSLASH_TEXT)))
def test_fingerprint_properties_hold_on_many_statements(statement: Statement) -> None:
    """Stress: stripping, idempotency and (without backslashes) the exact shape."""
    once = fingerprint(statement.sql)
    check_literals_are_stripped(statement)
    assert fingerprint(once) == once
    if "\\" not in statement.sql:
        assert once == statement.expected
