"""Tell whether the columns a slow query filters on already have an index.

The query's WHERE columns (``"table"."column"`` compared with ``=``, ``IN``
or a range) are looked up in Django's app registry: a primary key, a unique
field, ``db_index`` (a foreign key's default), ``Meta.indexes``,
``unique_together`` and unique constraints each index their first column.
Anything unclear (no app registry, raw SQL on tables no model names, OR,
NOT, subqueries, a column filtered any other way: LIKE, IS NULL, a function)
gives no verdict, and the report keeps its generic advice. An injected
delay (the demo's ``perfprobe_sleep(?) = ?``) is no filter and is left out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from .sqlshape import without_delay

logger = logging.getLogger("perfprobe.report")

_NAME = r'(?:"(\w+)"|`(\w+)`)'
_STATEMENT = re.compile(
    rf"^\s*(?:SELECT\b.*?\bFROM|UPDATE|DELETE\s+FROM)\s+{_NAME}",
    re.IGNORECASE | re.DOTALL,
)
_PREDICATE = re.compile(
    rf"{_NAME}\.{_NAME}\s*(=|IN\b|<=|>=|<|>|BETWEEN\b)", re.IGNORECASE
)
_WHERE_END = re.compile(
    r"\b(GROUP BY|ORDER BY|LIMIT|HAVING|RETURNING|OFFSET|FOR UPDATE|WINDOW)\b",
    re.IGNORECASE,
)
# Clauses whose columns an index may not serve as written: give no verdict.
_UNCLEAR = re.compile(r"\b(OR|NOT)\b|<>|!=|\bSELECT\b", re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE\b", re.IGNORECASE)
# An aggregate's FILTER (WHERE ...) is not the statement's WHERE.
_FILTER = re.compile(r"\bFILTER\s*\(", re.IGNORECASE)
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
# Any quoted identifier, whatever it holds: blanked before the end of the
# WHERE is looked for (a column named "limit" does not end it).
_QUOTED = re.compile(r'"[^"]*"|`[^`]*`')
# What may stand in a WHERE besides its predicates' columns: parameters,
# numbers, strings, AND, ANY and brackets. Anything else (LIKE, IS NULL, a
# function, an unquoted column) filters in a way no verdict covers.
# Possessive (``*+``, ``++``): a rest that does not match fails at once
# rather than trying every way to split its runs of spaces or digits.
_PLAIN_REST = re.compile(
    r"^(?:\s++|\?|%s|%\(\w++\)s|\.\.\.|-?\d++(?:\.\d++)?+|'[^']*+'|[(),]"
    r"|\bAND\b|\bANY\b)*+$",
    re.IGNORECASE,
)
_SLEEP = re.compile(r"\b(\w*sleep)\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class IndexVerdict:
    """What the models say about the columns a query filters on.

    ``indexed`` and ``unindexed`` name them as ``Model.field``, the indexed
    ones with the index (``"Inventory.product: unique"``); ``few_rows`` is
    true when an ``=`` or ``IN`` on a unique column of the query's own table
    bounds the rows it can return.
    """

    indexed: tuple[str, ...]
    unindexed: tuple[str, ...]
    few_rows: bool


@dataclass(frozen=True)
class _ColumnIndex:
    field: str
    kind: str
    unique: bool


def injected_delay(sql: str) -> str | None:
    """Return the sleep function ``sql`` calls (``"pg_sleep"``), if any."""
    match = _SLEEP.search(sql)
    return match.group(1) if match else None


def statement_table(sql: str) -> str | None:
    """Return the table a SELECT, UPDATE or DELETE reads first, if quoted."""
    match = _STATEMENT.match(sql)
    return (match.group(1) or match.group(2)) if match else None


def model_table(object_name: str) -> str | None:
    """Return the table of the one model named ``object_name``, if known.

    Return None when the app registry is not ready, or no model or more than
    one has that name; never raise.
    """
    try:
        from django.apps import apps

        if not apps.ready:
            return None
        tables = {
            model._meta.db_table
            for model in apps.get_models()
            if model._meta.object_name == object_name
        }
    except Exception:
        logger.debug("perfprobe could not look up model %r", object_name, exc_info=True)
        return None
    return tables.pop() if len(tables) == 1 else None


def check_indexes(sql: str) -> IndexVerdict | None:
    """Return what the app's models say about ``sql``'s filtered columns.

    Return None when there is no verdict to give; never raise.
    """
    try:
        return _check(sql)
    except Exception:
        logger.debug("perfprobe could not check the indexes of %r", sql, exc_info=True)
        return None


def _check(sql: str) -> IndexVerdict | None:
    sql = without_delay(sql)
    statement = _STATEMENT.match(sql)
    if statement is None or _FILTER.search(sql):
        return None
    # Searched after the table, so a WHERE in the select list is not taken.
    where_at = _WHERE.search(sql, statement.end())
    if where_at is None:
        return None
    where = sql[where_at.end() :]
    end = _WHERE_END.search(_QUOTED.sub(lambda m: "_" * len(m[0]), where))
    where = where[: end.start()] if end else where
    if _UNCLEAR.search(where) or len(_SELECT.findall(sql)) > 1:
        return None
    found = list(_PREDICATE.finditer(where))
    # Every column the WHERE names must be one of the predicates: a verdict
    # on some would read as one on all of them.
    if not _PLAIN_REST.match(_PREDICATE.sub(" ", where)):
        return None
    predicates = [
        (m.group(1) or m.group(2), m.group(3) or m.group(4), m.group(5).upper())
        for m in found
    ]
    tables = _tables({table for table, _column, _op in predicates})
    if not predicates or tables is None:
        return None

    main_table = statement.group(1) or statement.group(2)
    indexed: dict[str, None] = {}
    unindexed: dict[str, None] = {}
    few_rows = False
    for table, column, op in predicates:
        columns = tables[table]
        if column not in columns:
            return None
        index = columns[column]
        if isinstance(index, str):
            unindexed[index] = None
            continue
        indexed[f"{index.field}: {index.kind}"] = None
        if index.unique and table == main_table and op in ("=", "IN"):
            few_rows = True
    return IndexVerdict(tuple(indexed), tuple(unindexed), few_rows)


def _tables(names: set[str]) -> dict[str, dict[str, _ColumnIndex | str]] | None:
    """Return each named table's columns, indexed or not; None if one is unknown.

    A column maps to its first index, or to its ``Model.field`` name when no
    index starts with it.
    """
    from django.apps import apps

    if not apps.ready:
        return None
    models: dict[str, Any] = {}
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        # Two models on one table (say one per database) may disagree on
        # its indexes: no verdict rather than the last one's.
        if (
            opts.managed
            and not opts.proxy
            and opts.db_table in names
            and models.setdefault(opts.db_table, model) is not model
        ):
            return None
    if not names <= models.keys():
        return None
    return {name: _columns(models[name]) for name in names}


def _columns(model: Any) -> dict[str, _ColumnIndex | str]:
    from django.db.models import UniqueConstraint

    opts = model._meta
    fields = {f.name: f for f in opts.concrete_fields if getattr(f, "column", None)}
    # Meta options may name a foreign key by its attname ("owner_id") too.
    by_name = {**{f.attname: f for f in fields.values()}, **fields}
    found: dict[str, _ColumnIndex] = {}

    def add(name: str, kind: str, unique: bool) -> None:
        field = by_name.get(name.lstrip("-"))
        if field is not None and field.column not in found:
            found[field.column] = _ColumnIndex(
                f"{opts.object_name}.{field.name}", kind, unique
            )

    # The surest index first: a column keeps the first one found. A
    # composite primary key (which has no column of its own) indexes its
    # first field.
    composite = getattr(opts.pk, "field_names", None)
    if composite:
        add(composite[0], "primary key", len(composite) == 1)
    for field in fields.values():
        if field.primary_key:
            add(field.name, "primary key", True)
        elif field.unique:
            kind = "one-to-one, unique" if field.one_to_one else "unique"
            add(field.name, kind, True)
    for fields_together in opts.unique_together:
        add(fields_together[0], "unique_together", len(fields_together) == 1)
    for constraint in opts.constraints:
        names = getattr(constraint, "fields", ())
        # A partial unique constraint indexes only the rows it covers.
        if (
            isinstance(constraint, UniqueConstraint)
            and names
            and not constraint.condition
        ):
            add(names[0], f"constraint {constraint.name}", len(names) == 1)
    for field in fields.values():
        if field.db_index:
            kind = "foreign key index" if field.is_relation else "db_index"
            add(field.name, kind, False)
    for index in opts.indexes:
        if index.fields and index.condition is None:
            add(index.fields[0], f"index {index.name}", False)
    return {
        field.column: found.get(field.column) or f"{opts.object_name}.{field.name}"
        for field in fields.values()
    }
