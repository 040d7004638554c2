"""Hash a query's parameters and read its SQL as text, for the query recorder."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import os
import uuid
from collections.abc import Callable
from typing import Any

from .framewalk import PURE_PYTHON_ENV

# Hashed by value with their type's name, so that 1, 1.0, True and "1" stay
# apart while hashing costs no copy: a 50 MB blob is read once, not repr()'d.
_SCALARS = (
    str,
    bytes,
    int,
    float,
    type(None),
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
)
# Django's parameters are flat; nesting (array values) stays shallow.
_MAX_NESTING = 8
# The exact types of nearly every parameter, hashed without the checks
# below (none of them can be NaN); subclasses take the general path.
_PLAIN = frozenset({str, int, bool, type(None), bytes, datetime.datetime})


def _value_hash(value: Any, depth: int) -> int:
    kind = type(value)
    if kind in _PLAIN:
        return hash((kind.__qualname__, value))
    if (kind is tuple or kind is list) and depth < _MAX_NESTING:
        # One comprehension for a flat row, not a call per parameter.
        return hash(
            (
                kind.__qualname__,
                tuple(
                    [
                        hash((type(item).__qualname__, item))
                        if type(item) in _PLAIN
                        else _value_hash(item, depth + 1)
                        for item in value
                    ]
                ),
            )
        )
    name = kind.__qualname__
    if (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, decimal.Decimal) and value.is_nan()
    ):
        # NaN hashes by identity (and a signalling one not at all), so
        # two runs with the same NaN would otherwise differ.
        return hash((name, repr(value)))
    if isinstance(value, _SCALARS):
        return hash((name, value))
    if isinstance(value, bytearray | memoryview):
        return hash((name, hashlib.blake2b(value, digest_size=8).digest()))
    if depth < _MAX_NESTING:
        if isinstance(value, list | tuple):
            return hash((name, tuple(_value_hash(item, depth + 1) for item in value)))
        if isinstance(value, dict):
            # A frozenset, not sorted items: keys of mixed types do not sort.
            pairs = frozenset(
                (_value_hash(key, depth + 1), _value_hash(item, depth + 1))
                for key, item in value.items()
            )
            return hash((name, pairs))
    return hash((name, repr(value)))


def _load_flat_hash() -> Callable[[Any, frozenset[object]], int | None] | None:
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        from ._callsite import flat_hash
    except ImportError:
        return None
    return flat_hash


#: ``flat_hash(params, _PLAIN)``: ``_params_hash``'s first case in one C
#: call (the same value; ``None`` where that case does not apply), or
#: ``None`` where the extension is not built or is turned off.
flat_hash = _load_flat_hash()


def _params_hash(params: Any) -> int:
    """Return a hash equal for equal parameters and, almost always, only then."""
    try:
        kind = type(params)
        if kind is list or kind is tuple:
            # Nearly every query's parameters: a flat row of plain values,
            # hashed by C code alone (types by identity: the hash is only
            # compared within the process).
            types = tuple(map(type, params))
            if _PLAIN.issuperset(types):
                return hash((kind, types, tuple(params)))
        return _value_hash(params, 0)
    except Exception:
        # A parameter that can be neither hashed nor repr()'d cannot be
        # compared; an identity hash at least never reports two different
        # calls as duplicates.
        return id(params)


def sql_text(sql: Any, cursor: Any = None) -> str:
    """Return the SQL a cursor was given as text.

    Bytes-like SQL, which psycopg and mysqlclient accept, is decoded as
    UTF-8 with undecodable bytes replaced. A psycopg ``sql.Composable``
    is rendered with ``as_string()`` in the context of ``cursor`` (the
    DB-API cursor, which knows the connection's encoding). Anything else
    goes through ``str()``. A ``str`` subclass comes back as a plain ``str``.
    Exceptions propagate.
    """
    if isinstance(sql, str):
        # A subclass's own __hash__ and __eq__ (one that defines __eq__ has
        # no hash at all) would run where the fold groups the statements,
        # and a failure there costs the whole batch, not this query.
        return sql if type(sql) is str else str.__str__(sql)
    if isinstance(sql, bytes | bytearray | memoryview):
        return bytes(sql).decode("utf-8", errors="replace")
    as_string = getattr(sql, "as_string", None)
    if callable(as_string):
        # str() of a Composable is its repr, "Composed([SQL('SELECT '), ...])",
        # which would give every composed statement a near-identical shape.
        return str(as_string(cursor))
    return str(sql)
