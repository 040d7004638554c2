"""Share the JSON API's error type, view decorator and input parsing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

# Sync or async: the decorator keeps the kind of view it is given.
_ViewT = TypeVar("_ViewT", bound=Callable[..., Any])


class ApiError(Exception):
    """A refusal the API reports to the client as ``{"error": message}``."""

    status = 400


class InvalidInput(ApiError):
    """The request body or query string is malformed (HTTP 400)."""


class NotFound(ApiError):
    """The resource the request names does not exist (HTTP 404)."""

    status = 404


class Conflict(ApiError):
    """The request is valid but the shop's state forbids it (HTTP 409)."""

    status = 409


def error_response(status: int, message: str) -> JsonResponse:
    """Return the API's JSON error body with ``status``."""
    return JsonResponse({"error": message}, status=status)


def api_view(*methods: str) -> Callable[[_ViewT], _ViewT]:
    """Make a view CSRF exempt, limit its methods, render ApiError as JSON.

    Works on sync and async views alike; an async view stays async, so
    Django runs it on the event loop under ASGI.
    """

    def decorate(view: _ViewT) -> _ViewT:
        wrapper: Callable[..., Any]
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def wrapper(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponse:
                try:
                    reject_nul_characters(request.GET)
                    response: HttpResponse = await view(request, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc.status, str(exc))
                return response

        else:

            @functools.wraps(view)
            def wrapper(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponse:
                try:
                    reject_nul_characters(request.GET)
                    response: HttpResponse = view(request, *args, **kwargs)
                except ApiError as exc:
                    return error_response(exc.status, str(exc))
                return response

        # The API is called by scripts and the demo, never by a browser form,
        # so there is no CSRF token to check.
        return cast(_ViewT, csrf_exempt(require_http_methods(list(methods))(wrapper)))

    return decorate


def reject_nul_characters(query: QueryDict) -> None:
    """Raise InvalidInput if a query-string value holds a NUL character.

    PostgreSQL refuses NUL in text, so such a value would fail deep in a
    query as a server error instead of the client's mistake it is.
    """
    for key in query:
        if "\x00" in key or any("\x00" in value for value in query.getlist(key)):
            raise InvalidInput(f"query parameter {key!r} contains a NUL character")


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """Return the body as a JSON object; raise InvalidInput otherwise."""
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def require_int(
    data: Mapping[str, Any], key: str, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """Return ``data[key]`` as a bounded int; raise InvalidInput otherwise."""
    if key not in data:
        raise InvalidInput(f"{key} is required")
    value = data[key]
    # bool is an int subclass, and true is never a sensible id or quantity.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise InvalidInput(f"{key} must be >= {minimum}{upper}, got {value}")
    return value


def query_int(
    params: Mapping[str, str],
    key: str,
    *,
    default: int | None = None,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    """Return query parameter ``key`` as an int; raise InvalidInput if invalid.

    Without a default the parameter is required.
    """
    raw = params.get(key)
    if raw is None or raw == "":
        if default is None:
            raise InvalidInput(f"query parameter {key} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{key} must be an integer, got {raw!r}") from None
    return require_int({key: value}, key, minimum=minimum, maximum=maximum)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """Render Django's 404 for an unknown URL as a JSON error; handler404."""
    return error_response(404, f"no such endpoint: {request.path}")


def server_error(request: HttpRequest) -> JsonResponse:
    """Render an unhandled exception as a JSON error; handler500."""
    return error_response(500, "internal server error")
