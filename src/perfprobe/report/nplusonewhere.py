"""Say where an N+1 pattern ran and what fixes it, for the report and the tests.

The ``n-plus-one`` rule and ``perfprobe.testing.assert_no_n_plus_one`` both
call ``place_n_plus_one``, so a failing test's message says what the report
would: the template rendered at a view's line, the template of a
``TemplateResponse`` rendered after its view returned, or the line of the
loop, with the queryset that loaded the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..routes import HTTP_METHODS
from . import advice
from .countadvice import checked_once_per_row, per_row_check, row_check
from .indexes import model_table, statement_table
from .querysetsite import queryset_built_at
from .templatesite import client_request_at, in_no_file, template_render_at
from .viewsite import view_of_endpoint

__all__ = [
    "NPlusOnePlace",
    "NearbyQuery",
    "endpoint_in_scope",
    "loading_sites",
    "place_n_plus_one",
    "what_loads",
]

_METHODS = HTTP_METHODS | {"OTHER"}

#: When a query ran: its scope, thread and start (``started_at``).
RunOrder = tuple[str | None, int, float]
#: A query seen near an N+1: its call site, fingerprint and lazy load, and
#: when it ran, given only when every query of the report was kept.
NearbyQuery = (
    tuple[str | None, str, Mapping[str, Any] | None]
    | tuple[str | None, str, Mapping[str, Any] | None, RunOrder]
)


@dataclass(frozen=True)
class NPlusOnePlace:
    """Where an N+1 ran (``where``, for a title) and the fix (``suggestion``)."""

    #: ``"at shop/views.py:12"``, ``"in the template rendered at ..."``,
    #: ``"while the template of GET /books/ renders (...)"``.
    where: str
    suggestion: str
    #: What was worked out, for a finding's evidence.
    evidence: dict[str, Any] = field(default_factory=dict)


def endpoint_in_scope(scope: str | None) -> str | None:
    """Return the endpoint a scope path ends with (``"GET /books/"``), or ``None``.

    A request scope is named after its endpoint and may sit inside another
    scope: ``"nightly/GET /books/"``.
    """
    if not scope:
        return None
    starts = [0, *(i + 1 for i, char in enumerate(scope) if char == "/")]
    for start in starts:
        method, space, route = scope[start:].partition(" ")
        if space and route.startswith("/") and method in _METHODS:
            return scope[start:]
    return None


def loading_sites(
    fingerprint: str,
    lazy: Mapping[str, Any] | None,
    nearby: Iterable[NearbyQuery],
    rows_loaded_at: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Return where an N+1's rows were loaded: querysets' lines, relations.

    ``nearby`` are queries run where the pattern was seen. One on the lazily
    loaded model's own table, selecting its columns, is the queryset that
    needs the eager load; it may have run on the pattern's own line (``for
    b in Book.objects.all(): b.author``, or a comprehension), so only the
    pattern's own queries are left out. Such a query that was itself a lazy
    load means the rows came through that relation (``OrderItem.book``),
    whose lookup the fix extends: the second list names those. At most
    three of each; both empty without a lazy load, or when the model's
    table is unknown or the rows came through a known relation (``via``).
    When the queries say when they ran, the lines are narrowed to the one
    that ran last before the pattern's first query in its scope and thread
    (none when nothing ran before it); more than one line left means the
    rows' queryset is not known, and is never one of them to pick. Without
    those times, ``rows_loaded_at`` (the finding's, named as its scope
    closed from every query the scope ran, see ``nplusoneloader``) gives
    the lines instead, when known: ``nearby`` may lack the query that
    loaded the rows, when the report kept only the slowest.
    """
    if not lazy:
        return [], []
    table = model_table((lazy.get("model") or "").rsplit(".", 1)[-1])
    if table is None or lazy.get("via"):
        return [], []
    nearby = list(nearby)
    sites: dict[str, None] = {}
    relations: dict[str, None] = {}
    for query in nearby:
        site, sql, through = query[0], query[1], query[2]
        if not site or sql == fingerprint:
            continue
        columns = sql.split(" FROM ", 1)[0]
        if statement_table(sql) != table or f'"{table}".' not in columns:
            continue
        if through:
            model = (through.get("model") or "").rsplit(".", 1)[-1]
            relations[f"{model}.{through.get('field')}"] = None
        else:
            sites[site] = None
    before = _last_before(fingerprint, sites, nearby) if sites else None
    if before is None and rows_loaded_at is not None and not _have_run_order(nearby):
        sites = dict.fromkeys(rows_loaded_at)
    elif before is not None and len(before) <= 1:
        sites = dict.fromkeys(before)
    return sorted(sites)[:3], sorted(relations)[:3]


def _have_run_order(nearby: Sequence[NearbyQuery]) -> bool:
    """Return whether ``nearby`` says when each query ran (every one kept)."""
    return bool(nearby) and all(len(query) == 4 for query in nearby)


def _last_before(
    fingerprint: str, sites: Mapping[str, None], nearby: Sequence[NearbyQuery]
) -> list[str] | None:
    """Return the sites of the last query in ``sites`` before the pattern ran.

    Per scope and thread, the candidate query that started last before the
    pattern's first query there: one site when they agree, several when
    they do not, none when no candidate ran before it (a query after the
    loop did not load its rows). None when the queries do not say when
    they ran.
    """
    runs: list[tuple[str | None, str, RunOrder]] = []
    for query in nearby:
        if len(query) != 4:
            return None
        runs.append((query[0], query[1], query[3]))
    first: dict[tuple[str | None, int], float] = {}
    for _, sql, (scope, thread, started_at) in runs:
        if sql == fingerprint:
            key = (scope, thread)
            first[key] = min(first.get(key, started_at), started_at)
    chosen: dict[tuple[str | None, int], tuple[float, str]] = {}
    for site, _, (scope, thread, started_at) in runs:
        key = (scope, thread)
        if site is None or site not in sites or key not in first:
            continue
        if started_at < first[key] and (
            key not in chosen or started_at > chosen[key][0]
        ):
            chosen[key] = (started_at, site)
    return sorted({site for _, site in chosen.values()})


def place_n_plus_one(
    fingerprint: str,
    call_site: str | None,
    lazy: Mapping[str, Any] | None,
    nearby: Iterable[NearbyQuery] = (),
    endpoints: Sequence[str] = (),
    rows_loaded_at: Sequence[str] | None = None,
) -> NPlusOnePlace:
    """Return where the N+1 of ``fingerprint`` at ``call_site`` ran, and its fix.

    Django's template code is library code, so a loop in a template has the
    view's ``render()`` line as its call site, read from the source here.
    A ``TemplateResponse`` is rendered after the view returned: its queries
    have no call site (or, under the test client, the test's line sending
    the request), and ``endpoints`` (the requests they ran in) lead to the
    view through the URLconf. ``rows_loaded_at`` are the finding's lines
    that may have loaded its rows, when known (see ``loading_sites``).
    """
    loaded_at, through = loading_sites(fingerprint, lazy, nearby, rows_loaded_at)
    rendered_by = template_render_at(call_site)
    if rendered_by is not None:
        return NPlusOnePlace(
            where=f"in the template rendered at {call_site}",
            suggestion=advice.n_plus_one(
                fingerprint, call_site, lazy, loaded_at, through, in_template=True
            ),
            evidence={"in_template_rendered_by": rendered_by},
        )
    # Under a server no line of user code is on the stack while Django
    # renders a TemplateResponse; under the test client, the test's request
    # (or the shell's line that sent it, which has no file).
    if endpoints and (
        call_site is None or in_no_file(call_site) or client_request_at(call_site)
    ):
        # The rows' own query, run while the template rendered, has the
        # sending line as its call site too: that line built no queryset.
        built_at = [site for site in loaded_at if site != call_site]
        place = _in_request(fingerprint, lazy, built_at, through, endpoints[0])
        if place is not None:
            return place
    where = f"at {call_site}" if call_site else "at (unknown call site)"
    assigned = queryset_built_at(loaded_at[0]) if len(loaded_at) == 1 else None
    return NPlusOnePlace(
        where=where,
        suggestion=advice.n_plus_one(
            fingerprint, call_site, lazy, loaded_at, through, built_at=assigned
        ),
    )


def _in_request(
    fingerprint: str,
    lazy: Mapping[str, Any] | None,
    loaded_at: list[str],
    through: list[str],
    endpoint: str,
) -> NPlusOnePlace | None:
    """Place an N+1 that ran with no user frame on the stack, in a request."""
    view = view_of_endpoint(endpoint)
    if view is None:
        return None
    kind = "class-based view" if view.class_based else "view"
    evidence: dict[str, Any] = {"endpoint": endpoint, "view": view.name}
    if view.rows_from:
        evidence["rows_from"] = view.rows_from
    if view.template_response:
        evidence["in_template_response_of"] = view.name
        return NPlusOnePlace(
            where=(
                f"while the template of {endpoint} renders (a TemplateResponse "
                f"of the {kind} {view.name}, rendered after the view returned)"
            ),
            suggestion=advice.n_plus_one(
                fingerprint,
                None,
                lazy,
                loaded_at,
                through,
                in_template=True,
                template=f"of {endpoint} ({kind} {view.name})",
                rows_from=view.rows_from,
            ),
            evidence=evidence,
        )
    site = f"{endpoint} ({kind} {view.name}, in library code it called)"
    return NPlusOnePlace(
        where=(
            f"during {endpoint} with no line of your app's code on the stack "
            f"({kind} {view.name})"
        ),
        suggestion=advice.n_plus_one(fingerprint, site, lazy, loaded_at, through),
        evidence=evidence,
    )


def what_loads(fingerprint: str, lazy: Mapping[str, Any] | None) -> str:
    """Return what an N+1 loads per row: ``"Book.author loaded one row at a time"``."""
    check = per_row_check(fingerprint, lazy)
    if lazy and check:
        return checked_once_per_row(check, lazy).removesuffix(", ")
    if not lazy and row_check(fingerprint) == "count":
        return "one COUNT query per row"
    if not lazy and row_check(fingerprint) == "exists":
        return "one EXISTS query per row"
    if lazy:
        model = (lazy["model"] or "").rsplit(".", 1)[-1]
        return f"{model}.{lazy['field']} loaded one row at a time"
    return "one query per row"
