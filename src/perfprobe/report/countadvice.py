"""Write the fix for an N+1 of COUNT or EXISTS queries, one per row.

``author.books.count()`` or ``.exists()`` in a loop, or ``{{ a.books.count
}}`` in a template, loads no rows: each row's related manager sends one
aggregate query. The cure is an annotation on the outer queryset, or a
prefetch when the related rows are used as well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from .fmt import shorten

__all__ = [
    "checked_once_per_row",
    "count_fix",
    "per_row_check",
    "plain_count_fix",
    "row_check",
]

logger = logging.getLogger("perfprobe.report")

# Django's SQL for QuerySet.count() and QuerySet.exists(), as fingerprinted
# (literals become ``?``).
_COUNT = re.compile(r'^SELECT COUNT\(\*\) AS "__count" FROM ', re.IGNORECASE)
_EXISTS = re.compile(r'^SELECT (?:\?|1) AS "a" FROM .* LIMIT (?:\?|1)$', re.IGNORECASE)
# Relations whose manager counts or tests many rows per object.
_MANY = ("reverse foreign", "many")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def row_check(fingerprint: str) -> str | None:
    """Return ``"count"`` or ``"exists"`` for those queries' SQL, else None."""
    if _COUNT.match(fingerprint):
        return "count"
    if _EXISTS.match(fingerprint):
        return "exists"
    return None


def per_row_check(fingerprint: str, lazy: Mapping[str, str] | None) -> str | None:
    """Return ``"count"`` or ``"exists"`` when a related manager ran it per row.

    Only a lazy load of a reverse foreign key or a many-to-many relation,
    whose query is Django's COUNT or EXISTS statement, counts.
    """
    if not lazy:
        return None
    relation = (lazy.get("relation") or "").lower()
    if not any(kind in relation for kind in _MANY):
        return None
    return row_check(fingerprint)


def checked_once_per_row(kind: str, lazy: Mapping[str, str]) -> str:
    """Return the title's phrase: ``"Author.books counted once per row, "``."""
    model = (lazy.get("model") or "").rsplit(".", 1)[-1]
    did = "counted" if kind == "count" else "tested with exists()"
    return f"{model}.{lazy.get('field')} {did} once per row, "


def _exists_filter(model: str, field: str) -> tuple[str, str] | None:
    """Return the related model and the lookup back to ``model``, if known.

    ``("Book", "author")`` for ``Author.books``; None when the app registry
    is not ready or the model or field is not found. Never raise.
    """
    try:
        from django.apps import apps

        if not apps.ready:
            return None
        found = [m for m in apps.get_models() if m._meta.object_name == model]
        if len(found) != 1:
            return None
        relation = found[0]._meta.get_field(field)
        related = relation.related_model
        if related is None or isinstance(related, str):
            return None
        if relation.concrete:
            lookup = relation.related_query_name()  # type: ignore[union-attr]
        else:
            lookup = relation.field.name  # type: ignore[union-attr]
        return related._meta.object_name or "", lookup
    except Exception:
        logger.debug("perfprobe could not read %s.%s", model, field, exc_info=True)
        return None


def count_fix(
    kind: str,
    lazy: Mapping[str, str],
    site: str,
    target: str,
    in_template: bool = False,
) -> str:
    """Return the fix for ``kind`` (count or exists) queries run once per row.

    ``site`` is where they ran (a line, or ``"the template rendered at
    ..."``), ``target`` the queryset whose rows were used (``"the Author
    queryset at app/views.py:12"``).
    """
    model = (lazy.get("model") or "model").rsplit(".", 1)[-1]
    field = lazy.get("field") or "..."
    row = _CAMEL_BOUNDARY.sub("_", model).lower()
    at = site if in_template else f"at {site}"
    prefetch = f'add prefetch_related("{field}") there instead'
    if kind == "count":
        called = f"{row}.{field}.count()"
        if in_template:
            called = f"{{{{ {row}.{field}.count }}}}"
        return (
            f"{model}.{field} is counted with one COUNT query per {model} row "
            f"{at} ({called}); no rows are loaded one at a time. Annotate "
            f'{target} with .annotate({field}_count=Count("{field}")) and read '
            f"{row}.{field}_count instead; when the {field} themselves are used "
            f"too, {prefetch} and take len({row}.{field}.all())."
        )
    related = _exists_filter(model, field)
    subquery = "..."
    if related is not None:
        subquery = f'{related[0]}.objects.filter({related[1]}=OuterRef("pk"))'
    called = f"{row}.{field}.exists()"
    if in_template:
        called = f"{{{{ {row}.{field}.exists }}}}"
    return (
        f"{model}.{field} is tested with one EXISTS query (SELECT 1 ... LIMIT 1) "
        f"per {model} row {at} ({called}); no rows are loaded one at a time. "
        f"Annotate {target} with .annotate(has_{field}=Exists({subquery})) and "
        f"read {row}.has_{field} instead; when the {field} themselves are used "
        f"too, {prefetch} and test bool({row}.{field}.all())."
    )


def plain_count_fix(kind: str, fingerprint: str, where: str) -> str:
    """Return the fix for COUNT or EXISTS queries per item with no relation seen.

    ``Book.objects.filter(author=a).count()`` in a loop goes through no
    related manager, so the relation is not known and is left for the
    reader to fill in. ``where`` is ``"at path:line"`` or ``"in the template
    rendered at path:line"``.
    """
    sql = shorten(fingerprint, 100)
    if kind == "count":
        return (
            f"The query {sql!r} counts rows once per item {where}; no rows are "
            "loaded one at a time. Annotate the queryset the loop goes over "
            'with .annotate(n=Count("<relation>")), or run one '
            '.values("<key>").annotate(n=Count("pk")) query before the loop '
            "and turn it into a dict."
        )
    return (
        f"The query {sql!r} tests with exists() once per item {where}; no rows "
        "are loaded one at a time. Annotate the queryset the loop goes over "
        'with .annotate(has_x=Exists(<that query, filtered on OuterRef("pk")>)) '
        "and read the flag instead."
    )
