"""Find the view behind an endpoint, and whether it returns a TemplateResponse.

A ``TemplateResponse`` (what a class-based ``ListView`` or ``DetailView``
returns) is rendered by Django's handler after the view has returned, so the
queries its template runs have no frame of user code on the stack and no
call site. The report names the endpoint they ran in (``"GET /books/"``);
this reads the project's URLconf when the report is built to find the view
served there and the place its rows come from: a class's own
``get_queryset()`` or ``queryset``, or a function view's line making the
``TemplateResponse``. Nothing is recorded per request for it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import weakref
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from ..db.callsite import display_path, is_library_path

__all__ = ["EndpointView", "view_of_endpoint"]

_TEMPLATE_RESPONSES = frozenset({"TemplateResponse", "SimpleTemplateResponse"})


@dataclass(frozen=True)
class EndpointView:
    """The view an endpoint's route serves, as read from the URLconf."""

    #: Dotted name of the view class or function.
    name: str
    #: Whether it is a class-based view (``as_view()``).
    class_based: bool
    #: Whether it returns a ``TemplateResponse`` its handler renders later.
    template_response: bool
    #: Where its rows are chosen, to follow "the queryset": ``"returned by
    #: OrderList.get_queryset() at path:line"``, ``"in OrderList.queryset at
    #: path:line"``, ``"passed to the TemplateResponse at path:line"``; or
    #: ``None`` when not found in user code.
    rows_from: str | None


def view_of_endpoint(endpoint: str) -> EndpointView | None:
    """Return the view served at ``endpoint`` (``"GET /books/<int:pk>/"``).

    ``None`` when the name is no endpoint, the URLconf cannot be loaded or
    no pattern of it has that route.
    """
    _method, _, route = endpoint.partition(" ")
    if not route.startswith("/"):
        return None
    try:
        callback = _callbacks_by_route(get_resolver()).get(route)
    except Exception:
        # A URLconf that fails to import is the project's to report.
        return None
    if callback is None:
        return None
    return _describe(callback)


# Per resolver, which get_resolver() makes once per ROOT_URLCONF; weakly, so
# a resolver dropped when the setting changes is not kept, nor its id reused.
_routes_of: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _callbacks_by_route(resolver: Any) -> dict[str, Any]:
    """Return each route of ``resolver`` (as the report names it) and its view."""
    routes = _routes_of.get(resolver)
    if routes is None:
        routes = {}
        _walk(resolver.url_patterns, "", routes)
        _routes_of[resolver] = routes
    return routes


def _walk(patterns: list[Any], prefix: str, routes: dict[str, Any]) -> None:
    for pattern in patterns:
        # As ResolverMatch.route joins them: an included pattern's own
        # leading "^" is dropped.
        own = str(pattern.pattern)
        text = prefix + own.removeprefix("^") if prefix else own
        if isinstance(pattern, URLResolver):
            _walk(pattern.url_patterns, text, routes)
        elif isinstance(pattern, URLPattern):
            routes.setdefault("/" + text.lstrip("^").rstrip("$"), pattern.callback)


def _describe(callback: Any) -> EndpointView:
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        from django.views.generic.base import TemplateResponseMixin

        return EndpointView(
            name=f"{view_class.__module__}.{view_class.__qualname__}",
            class_based=True,
            template_response=issubclass(view_class, TemplateResponseMixin),
            rows_from=_class_rows(view_class),
        )
    function = inspect.unwrap(callback)
    line = _template_response_line(function)
    return EndpointView(
        name=f"{function.__module__}.{function.__qualname__}",
        class_based=False,
        template_response=line is not None,
        rows_from=f"passed to the TemplateResponse at {line}" if line else None,
    )


def _class_rows(view_class: type) -> str | None:
    """Return where a view class's rows come from, in the first user class."""
    for klass in view_class.__mro__:
        source = _source_file(klass)
        if source is None:
            continue
        for attr in ("get_queryset", "queryset"):
            if attr not in vars(klass):
                continue
            line = _line_of(klass, attr)
            call = "()" if attr == "get_queryset" else ""
            where = f" at {display_path(source)}:{line}" if line else ""
            verb = "returned by" if call else "in"
            return f"{verb} {klass.__qualname__}.{attr}{call}{where}"
    return None


def _source_file(obj: Any) -> str | None:
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return None
    if path is None or is_library_path(path):
        return None
    return path


def _line_of(klass: type, attr: str) -> int | None:
    value = vars(klass)[attr]
    if inspect.isfunction(value):
        return value.__code__.co_firstlineno
    try:
        lines, start = inspect.getsourcelines(klass)
    except (OSError, TypeError):
        return None
    for offset, text in enumerate(lines):
        if text.lstrip().startswith((f"{attr} =", f"{attr}:")):
            return start + offset
    return start


def _template_response_line(function: Any) -> str | None:
    """Return ``path:line`` of a ``TemplateResponse(...)`` made by ``function``."""
    path = _source_file(function)
    if path is None:
        return None
    try:
        lines, start = inspect.getsourcelines(function)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, ValueError, RecursionError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in _TEMPLATE_RESPONSES:
            return f"{display_path(path)}:{start + node.lineno - 1}"
    return None
