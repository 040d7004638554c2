"""Wrap a function so that each call is one ``measure_execution_time`` block."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from asgiref.sync import iscoroutinefunction

if TYPE_CHECKING:
    from .timing import ExecutionTimer

P = ParamSpec("P")
R = TypeVar("R")

_get_ident = threading.get_ident


def _is_async_callable(func: Callable[..., Any]) -> bool:
    # asgiref's check also sees markcoroutinefunction and sync_to_async
    # wrappers; an object whose __call__ is a coroutine function is async too.
    if iscoroutinefunction(func) or inspect.iscoroutinefunction(func):
        return True
    return not inspect.isroutine(func) and inspect.iscoroutinefunction(
        type(func).__call__
    )


def wrap(timer: ExecutionTimer, func: Callable[P, R]) -> Callable[P, R]:
    """Return ``func`` measured by ``timer`` on each call; see ``ExecutionTimer``.

    Raise ``TypeError`` when ``func`` is not callable, or is a ``property``,
    ``classmethod`` or ``staticmethod`` object (the decorator goes below it).

    A start is kept in the wrapper's own frame, not in the timer, so a
    decorated function may run in any number of threads and tasks at once.
    """
    if isinstance(func, property | classmethod | staticmethod) or not callable(func):
        # Wrapped, a property or classmethod failed at each call ("object is
        # not callable") and a staticmethod was bound to the instance: the
        # mistake showed far from the decorator, once per call, as the
        # operation's error.
        kind = type(func).__name__
        raise TypeError(
            f"measure_execution_time({timer.name!r}) decorates a function or "
            f"other callable, not {kind}"
            + (
                f"; put it below @{kind}, next to the def"
                if isinstance(func, property | classmethod | staticmethod)
                else ""
            )
        )
    if inspect.isasyncgenfunction(func):
        raise TypeError(
            f"measure_execution_time({timer.name!r}) cannot time an async "
            "generator function; use `async with "
            "monitor.measure_execution_time(...)` inside it"
        )
    if _is_async_callable(func):
        async_func = cast(Callable[P, Awaitable[Any]], func)
        return cast(Callable[P, R], _wrap_async(timer, async_func))
    if inspect.isgeneratorfunction(func):
        return cast(Callable[P, R], _wrap_generator(timer, func))

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # A plain call starts and ends in one thread.
        thread_id = _get_ident()
        start = timer._start(thread_id)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            if isinstance(start, tuple):
                timer._finish(start, exc, thread_id)
            raise
        if isinstance(start, tuple):
            timer._finish(start, None, thread_id)
        return result

    return wrapper


def _wrap_async(
    timer: ExecutionTimer, func: Callable[P, Awaitable[R]]
) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(func)
    async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = timer._start(_get_ident())
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            if isinstance(start, tuple):
                timer._finish(start, exc, _get_ident())
            raise
        if isinstance(start, tuple):
            timer._finish(start, None, _get_ident())
        return result

    return async_wrapper


def _wrap_generator(
    timer: ExecutionTimer, func: Callable[P, Generator[Any, Any, R]]
) -> Callable[P, Generator[Any, Any, R]]:
    @functools.wraps(func)
    def generator_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, R]:
        # ``yield from`` forwards send(), throw() and close(), and the
        # measurement spans the whole iteration, not the creation.
        start = timer._start(_get_ident())
        try:
            result = yield from func(*args, **kwargs)
        except BaseException as exc:
            # GeneratorExit (the consumer stopped early) is no failure; the
            # timer decides. It may end in another thread.
            if isinstance(start, tuple):
                timer._finish(start, exc, _get_ident())
            raise
        if isinstance(start, tuple):
            timer._finish(start, None, _get_ident())
        return result

    return generator_wrapper
