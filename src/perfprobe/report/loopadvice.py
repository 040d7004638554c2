"""Write the suggestions for queries run in a loop: N+1 patterns, repeats."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .countadvice import count_fix, per_row_check, plain_count_fix, row_check
from .fmt import shorten

# Relations that fetch many rows per object need prefetch_related(); the
# single-object ones (forward keys, one-to-one either way) a join.
_PREFETCH_HINTS = ("many", "reverse foreign", "generic")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# A WHERE of one column compared with one parameter, then at most an ORDER
# BY and a LIMIT: the column the rows are found by.
_ONE_COLUMN = re.compile(
    r'\bWHERE\s+\(?\s*(?:"\w+"|`\w+`)\.(?:"(?P<c1>\w+)"|`(?P<c2>\w+)`)\s*=\s*'
    r"(?:\?|%s)\s*\)?\s*(?:ORDER\s+BY\b[^()?%]*)?(?:LIMIT\s+(?:\?|%s|\d+)\s*)?$",
    re.IGNORECASE,
)
# Writes in a loop have no related rows to load up front: the cure is one
# call for the whole set.
_WRITE_FIXES = {
    "INSERT": (
        "Build the objects in the loop and save them together with one "
        "bulk_create() call."
    ),
    "UPDATE": (
        "Change the objects in the loop and save them together with one "
        "bulk_update() call, or run one queryset.update() when every row gets "
        "the same value."
    ),
    "DELETE": (
        "Delete the rows together with one queryset.delete(), e.g. "
        "Model.objects.filter(pk__in=[...]).delete()."
    ),
}


def _relation_fix(lazy: Mapping[str, str]) -> str:
    fix = (lazy.get("fix") or "").strip()
    if fix:
        return fix
    relation = (lazy.get("relation") or "").lower()
    name = lazy.get("field") or "..."
    if "defer" in relation:
        return f'remove "{name}" from .only()/.defer()'
    if any(hint in relation for hint in _PREFETCH_HINTS):
        return f'prefetch_related("{name}")'
    return f'select_related("{name}")'


def _snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _eager_load(
    model: str,
    field: str,
    fix: str,
    site: str,
    via: str,
    loaded_at: list[str],
    through: list[str],
    built_at: str | None = None,
) -> str:
    method, _, arguments = fix.partition("(")
    name = arguments.rstrip(")").strip("\"'") or field
    if via:
        root = via.split(".", 1)[0]
        return (
            f"Add {fix} to the {root} queryset whose rows are used at {site}: the "
            f"{model} rows come through {via}, so extending that lookup loads "
            f"{model}.{field} with them instead of once per row."
        )
    if len(loaded_at) > 1:
        return (
            f"Add {fix} where the {model} rows used at {site} are loaded, so "
            f"that {model}.{field} comes with them instead of once per row "
            f"(several lines ran {model} queries in the same scope as this loop, "
            "and the report could not tell which of them loaded these rows)."
        )
    if loaded_at:
        (loader,) = loaded_at
        if built_at is not None:
            # The loop read a queryset assigned to a name on an earlier line.
            return (
                f"Add {fix} to the {model} queryset assigned to {built_at} (its "
                f"query ran at {loader}), whose rows are used at {site}, so that "
                f"{model}.{field} comes with them instead of once per row."
            )
        if loader == site:
            # The query ran where the queryset was evaluated (a loop over it
            # or a comprehension), which may be after the line that built it.
            return (
                f"Add {fix} where the {model} queryset used at {site} is built "
                f"(its query ran at {site}, where it was first read), so that "
                f"{model}.{field} comes with its rows instead of once per row."
            )
        return (
            f"Add {fix} to the {model} queryset at {loader}, whose rows are used "
            f"at {site}, so that {model}.{field} comes with them instead of once "
            "per row."
        )
    if through:
        relation, _, accessor = through[0].partition(".")
        others = f" (or {', '.join(through[1:])})" if len(through) > 1 else ""
        return (
            f"The {model} rows used at {site} were loaded one at a time through "
            f"{through[0]}{others}, itself an N+1: extend the {relation} queryset's "
            f'lookup instead, {method}("{accessor}__{name}"), so that '
            f"{model}.{field} comes with them."
        )
    relation = _snake_case(model)
    return (
        f"Add {fix} where these {model} rows are loaded for {site}, so that "
        f"{model}.{field} comes with them instead of once per row; if they come "
        f"through a relation (e.g. item.{relation}), extend that lookup instead: "
        f'{method}("{relation}__{name}").'
    )


def _in_template(
    fingerprint: str,
    template: str,
    lazy: Mapping[str, str] | None,
    loaded_at: list[str],
    through: list[str],
    rows_from: str | None = None,
) -> str:
    """Return the fix for an N+1 inside the template ``template`` names.

    ``template`` completes "the template …": ``"rendered at path:line"``,
    or for a TemplateResponse ``"of GET /books/ (view app.views.Books)"``;
    ``rows_from`` completes "the queryset …" with the view's own, when
    known (``"returned by Books.get_queryset() at path:line"``).
    """
    loop = "{% for %}"
    passed = "the queryset the view passes to the template"
    if rows_from:
        passed = f"the queryset {rows_from}"
    if not template.startswith("rendered at"):
        template += ", rendered after the view returned,"
    if not lazy:
        return (
            f"The query {shorten(fingerprint, 100)!r} runs once per item of a "
            f"{loop} loop in the template {template.rstrip(',')}. Load what the "
            f"loop reads on {passed}: select_related() for a foreign key or "
            "one-to-one, prefetch_related() for a reverse or many-to-many "
            "relation."
        )
    model = (lazy.get("model") or "model").rsplit(".", 1)[-1]
    field = lazy.get("field") or "..."
    fix = _relation_fix(lazy)
    reads = (
        f"The template {template} reads {model}.{field} once per "
        f"{model} row, inside a {loop} loop (look for .{field} there)"
    )
    if not fix.startswith(("select_related(", "prefetch_related(")):
        return f"{reads}: {fix}."
    if through:
        relation, _, accessor = through[0].partition(".")
        method, _, arguments = fix.partition("(")
        name = arguments.rstrip(")").strip("\"'") or field
        return (
            f"{reads}, and those rows were themselves loaded one at a time "
            f"through {through[0]}: extend the lookup of the {relation} queryset "
            f'passed to the template instead, {method}("{accessor}__{name}"), so '
            f"that {model}.{field} comes with them."
        )
    via = lazy.get("via") or ""
    root = via.split(".", 1)[0] if via else model
    site = template.removeprefix("rendered at ")
    built = [s for s in loaded_at if s != site]
    # Several candidates are not offered as alternatives: only one is right.
    where = f" (its query ran at {built[0]})" if len(loaded_at) == 1 and built else ""
    target = f"the {root} queryset the view passes to the template"
    if rows_from:
        target = f"the {root} queryset {rows_from}"
    return (
        f"{reads}: add {fix} to {target}{where}, so that {model}.{field} comes "
        "with its rows instead of once per row."
    )


def _count_per_row(
    check: str,
    lazy: Mapping[str, str],
    site: str,
    loaded_at: list[str],
    in_template: bool,
    template: str | None,
    rows_from: str | None,
    built_at: str | None = None,
) -> str:
    """Return the fix for a related manager's count() or exists() per row."""
    model = (lazy.get("model") or "model").rsplit(".", 1)[-1]
    via = lazy.get("via") or ""
    if in_template:
        template = template or f"rendered at {site}"
        target = f"the {model} queryset the view passes to the template"
        if rows_from:
            target = f"the {model} queryset {rows_from}"
        return count_fix(check, lazy, f"in the template {template}", target, True)
    if via:
        # The fix's own lookup path names where the rows came from; an
        # annotation cannot follow it, so the outer queryset is named plainly.
        target = f"the {model} rows' queryset (they come through {via})"
    elif len(loaded_at) == 1 and built_at is not None:
        target = (
            f"the {model} queryset assigned to {built_at} (its query ran at "
            f"{loaded_at[0]})"
        )
    elif len(loaded_at) == 1 and loaded_at[0] != site:
        target = f"the {model} queryset at {loaded_at[0]}"
    elif len(loaded_at) == 1:
        target = f"the {model} queryset read at {site} (where it is built)"
    else:
        target = f"the {model} queryset whose rows are used at {site}"
    return count_fix(check, lazy, site, target)


def n_plus_one(
    fingerprint: str,
    call_site: str | None,
    lazy: Mapping[str, str] | None,
    loaded_at: list[str] | None = None,
    through: list[str] | None = None,
    *,
    in_template: bool = False,
    template: str | None = None,
    rows_from: str | None = None,
    built_at: str | None = None,
) -> str:
    """Return the fix for an N+1 pattern, naming the relation when known.

    A lazy load's ``via`` (``"OrderItem.order"``) means its rows came
    through another model's relation: the fix then names that model's
    queryset and the whole lookup path. ``loaded_at`` names the call sites
    of the queries that loaded the rows, when the report holds them, and
    ``through`` the relations (``"OrderItem.book"``) that lazily loaded
    them; with none of these known, the fix also says how to extend a
    relation's lookup, since the rows may have come through one.
    ``in_template`` says the queries ran in a template's loop: the one
    rendered at the call site, or the one ``template`` names (``"of GET
    /books/ (view app.views.Books)"``, a TemplateResponse rendered after its
    view returned); the fix goes on the queryset passed to it, which
    ``rows_from`` names when known (``"returned by Books.get_queryset() at
    path:line"``). ``built_at`` (``"orders at path:line"``) names the name
    and line that assigned the queryset whose query ran at the one line in
    ``loaded_at``, read from its source.
    """
    site = call_site or "the call site shown"
    check = per_row_check(fingerprint, lazy)
    if lazy and check:
        return _count_per_row(
            check,
            lazy,
            site,
            loaded_at or [],
            in_template,
            template,
            rows_from,
            built_at,
        )
    check = None if lazy else row_check(fingerprint)
    if check:
        where = f"at {site}"
        if in_template:
            where = f"in the template {template or f'rendered at {site}'}"
        return plain_count_fix(check, fingerprint, where)
    if in_template:
        return _in_template(
            fingerprint,
            template or f"rendered at {site}",
            lazy,
            loaded_at or [],
            through or [],
            rows_from,
        )
    if lazy:
        model = (lazy.get("model") or "model").rsplit(".", 1)[-1]
        field = lazy.get("field") or "..."
        fix = _relation_fix(lazy)
        if fix.startswith(("select_related(", "prefetch_related(")):
            return _eager_load(
                model,
                field,
                fix,
                site,
                lazy.get("via") or "",
                loaded_at or [],
                through or [],
                built_at,
            )
        return f"{model}.{field} is loaded once per row at {site}: {fix}."
    statement = fingerprint.lstrip("( ").split(" ", 1)[0].upper()
    if statement in _WRITE_FIXES:
        return (
            f"The statement {shorten(fingerprint, 100)!r} runs once per item at "
            f"{site}. {_WRITE_FIXES[statement]}"
        )
    column = _ONE_COLUMN.search(fingerprint)
    name = None if column is None else column["c1"] or column["c2"]
    if name is None or name == "id":
        batch = (
            "one filter(pk__in=[...]) query turned into a dict, which "
            "in_bulk(ids) returns in one call"
        )
    else:
        # Rows found by another column: several per item, perhaps, and
        # in_bulk() takes a unique field alone.
        batch = (
            f"one filter({name}__in=[...]) query whose rows are grouped into a "
            f"dict by {name}"
        )
    return (
        f"The query {shorten(fingerprint, 100)!r} runs once per item at {site}. "
        "Load the rows it fetches before the loop: select_related() for a "
        "foreign key or one-to-one, prefetch_related() for a reverse or "
        f"many-to-many relation, or {batch}."
    )


def duplicate_queries(repeats: int, call_sites: list[str]) -> str:
    """Return how to avoid running the same query ``repeats`` times.

    One call site that repeats it runs in a loop or a function called again
    and again; several call sites each fetch the same thing on their own.
    """
    same = f"The same SQL with the same parameters ran {repeats} times"
    cache = "or cache it (django.core.cache) when it is shared across requests."
    if len(call_sites) == 1:
        return (
            f"{same} from one line, {call_sites[0]}, so that line runs in a loop "
            "or in a function called again and again: run the query once before "
            "the loop (or in the caller) and reuse the result, use "
            f"functools.cached_property for per-object values, {cache}"
        )
    if call_sites:
        return (
            f"{same} from {len(call_sites)} places ({', '.join(call_sites)}), "
            "each fetching it on its own: run it once and pass the result to the "
            "others, keep it on the object with functools.cached_property, "
            f"{cache}"
        )
    return (
        f"{same}: run it once and reuse the result — keep it in a local "
        f"variable, use functools.cached_property for per-object values, {cache}"
    )
