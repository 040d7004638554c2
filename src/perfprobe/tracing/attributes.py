"""Name span attributes as the semantic conventions do, and read SQL for them.

The names come from the installed ``opentelemetry-semantic-conventions``
where it has them; an older release without the stable database names
falls back to the same strings, which the conventions fix for good once
stable. Only the stable names are emitted: ``db.system`` is deprecated in
favour of ``db.system.name``, and a consumer of the old names would miss
``db.statement`` and ``db.name`` as well, so adding it alone buys nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def _module(name: str) -> ModuleType | None:
    try:
        return __import__(f"opentelemetry.semconv.attributes.{name}", fromlist=["_"])
    except ImportError:
        return None


_db = _module("db_attributes")
_error = _module("error_attributes")
_http = _module("http_attributes")
_url = _module("url_attributes")

DB_SYSTEM_NAME: str = getattr(_db, "DB_SYSTEM_NAME", "db.system.name")
DB_NAMESPACE: str = getattr(_db, "DB_NAMESPACE", "db.namespace")
DB_COLLECTION_NAME: str = getattr(_db, "DB_COLLECTION_NAME", "db.collection.name")
DB_OPERATION_NAME: str = getattr(_db, "DB_OPERATION_NAME", "db.operation.name")
DB_OPERATION_BATCH_SIZE: str = getattr(
    _db, "DB_OPERATION_BATCH_SIZE", "db.operation.batch.size"
)
DB_QUERY_TEXT: str = getattr(_db, "DB_QUERY_TEXT", "db.query.text")
ERROR_TYPE: str = getattr(_error, "ERROR_TYPE", "error.type")
HTTP_REQUEST_METHOD: str = getattr(_http, "HTTP_REQUEST_METHOD", "http.request.method")
HTTP_ROUTE: str = getattr(_http, "HTTP_ROUTE", "http.route")
HTTP_RESPONSE_STATUS_CODE: str = getattr(
    _http, "HTTP_RESPONSE_STATUS_CODE", "http.response.status_code"
)
URL_SCHEME: str = getattr(_url, "URL_SCHEME", "url.scheme")

#: Prefix of the attributes that carry a monitored block's own tags.
TAG_PREFIX = "perfprobe."


def _system_value(member: str, fallback: str) -> str:
    values: Any = getattr(_db, "DbSystemNameValues", None)
    member_value = getattr(values, member, None)
    return str(member_value.value) if member_value is not None else fallback


# SQLite and Oracle are only in the incubating list; their values are the
# ones it gives, checked against it by the tests.
_SYSTEM_NAMES = {
    "postgresql": _system_value("POSTGRESQL", "postgresql"),
    "mysql": _system_value("MYSQL", "mysql"),
    "microsoft": _system_value("MICROSOFT_SQL_SERVER", "microsoft.sql_server"),
    "sqlite": "sqlite",
    "oracle": "oracle.db",
}
_MARIADB = _system_value("MARIADB", "mariadb")
OTHER_SQL = "other_sql"


def db_system_name(connection: BaseDatabaseWrapper) -> str:
    """Return ``db.system.name`` for a Django connection's backend."""
    vendor = connection.vendor
    # mysql_is_mariadb is a cached property that runs a query the first
    # time; that query would come back through the recorder, so only an
    # already known answer is used.
    if vendor == "mysql" and connection.__dict__.get("mysql_is_mariadb"):
        return _MARIADB
    return _SYSTEM_NAMES.get(vendor, OTHER_SQL)


def db_namespace(connection: BaseDatabaseWrapper) -> str | None:
    """Return the database name from the connection's settings, if it has one."""
    name = connection.settings_dict.get("NAME")
    return str(name) if name else None


# The statements one database call can be; anything else (a CTE's WITH,
# a vendor's own verb) names no operation rather than a wrong one.
_OPERATIONS = frozenset(
    [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "REPLACE",
        "UPSERT",
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "BEGIN",
        "START",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "SET",
        "SHOW",
        "EXPLAIN",
        "PRAGMA",
        "VACUUM",
        "ANALYZE",
        "GRANT",
        "REVOKE",
        "CALL",
        "EXEC",
        "EXECUTE",
        "LOCK",
        "COPY",
    ]
)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


_CACHE_SIZE = 1024
# Longer fingerprints (large bulk inserts) are answered without caching, so
# that each cache's memory stays bounded by entries times this length, as the
# fingerprint cache's is (perfprobe.db.fingerprint).
_MAX_CACHED_CHARS = 8192


def _bounded_cache(func: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """Cache ``func`` by its argument, except for arguments over the size bound."""
    cached = functools.lru_cache(maxsize=_CACHE_SIZE)(func)

    @functools.wraps(func)
    def lookup(fingerprint: str) -> str | None:
        if len(fingerprint) > _MAX_CACHED_CHARS:
            return func(fingerprint)
        return cached(fingerprint)

    return lookup


@_bounded_cache
def operation_name(fingerprint: str) -> str | None:
    """Return the SQL verb a fingerprint starts with, as written, or ``None``."""
    match = _FIRST_WORD.match(fingerprint)
    if match is None or match.group(1).upper() not in _OPERATIONS:
        return None
    return match.group(1)


_IDENT = r'"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_][\w$]*'
_QUOTED_IDENT = re.compile(r'"(?:[^"]|"")+"|`(?:[^`]|``)+`')
_TABLE_WORDS = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\b", re.IGNORECASE)
_SELECT_WORD = re.compile(r"\bSELECT\b", re.IGNORECASE)
_TARGET = re.compile(
    # Atomic, so that a name cut short cannot dodge the comma test below.
    rf"\b(?:FROM|JOIN|INTO|UPDATE)\s+((?>(?:{_IDENT})(?:\.(?:{_IDENT}))?))"
    # An alias and then a comma would be a second table (FROM a x, b).
    rf"(?!\s*(?:AS\s+)?(?:{_IDENT})?\s*,)",
    re.IGNORECASE,
)


@_bounded_cache
def collection_name(fingerprint: str) -> str | None:
    """Return the one table a statement reads or writes, or ``None``.

    Only a statement that names exactly one table (no join, subquery,
    union, ``FOR UPDATE`` or second ``FROM`` item) gets one: the
    conventions ask for no guess where a query touches several.
    """
    # Keywords inside quoted identifiers ("from_date") do not count.
    bare = _QUOTED_IDENT.sub('""', fingerprint)
    if len(_TABLE_WORDS.findall(bare)) != 1 or len(_SELECT_WORD.findall(bare)) > 1:
        return None
    match = _TARGET.search(fingerprint)
    if match is None:
        return None
    return ".".join(_unquote(part) for part in _split_dotted(match.group(1)))


def _split_dotted(name: str) -> list[str]:
    return re.findall(_IDENT, name)


def _unquote(part: str) -> str:
    if part[0] == '"':
        return part[1:-1].replace('""', '"')
    if part[0] == "`":
        return part[1:-1].replace("``", "`")
    return part
