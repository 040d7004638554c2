"""Mark the work of one request as unmonitored, for every probe to skip."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar, Token
from typing import Any, Protocol, cast

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse

from .failures import log_failure
from .scope import Scope, current_scope

# The request middleware's logger: it keeps responses unmonitored.
logger = logging.getLogger("perfprobe.request")


class Mark(Protocol):
    """Anything with a ``suppressed`` flag: a ``RequestMark``, or any scope."""

    suppressed: bool
    #: The request it stands for, if any (see ``Scope.request``).
    request: Any


class RequestMark(Scope):
    """A scope that only marks the work of a request left out of the data.

    The middleware makes a fresh, suppressed one current for a request it
    leaves out (excluded, not sampled); a monitored request's mark is its own
    scope (``RequestScope``), which switches itself on once its view turns
    out to be unmonitored. The mark is the current scope itself, so that a
    request sets one ``ContextVar`` rather than two; being a mark, it is not
    a unit of work: ``get_current_scope()`` and a scope opened inside it see
    the scope it was set in (its parent). A mutable object rather than a
    value, so that it can be switched for the rest of the request without
    setting (and having to reset) the ``ContextVar``. A sync view run by
    ``sync_to_async`` sees the same object, since a copied context holds the
    same reference.
    """

    is_mark = True
    # What a reader of any scope may ask of a mark; no scope table opens it.
    name = "request"
    kind = "request"
    id = 0
    started_at = 0.0
    started_ns = 0

    def __init__(self, suppressed: bool) -> None:
        # Only what a mark needs: the scope it was set in, and the flag.
        self.parent = current_scope.get()
        self.suppressed = suppressed


#: The current scope is the mark: one ``ContextVar`` for both.
_mark: ContextVar[Mark | None] = current_scope  # type: ignore[assignment]

#: ``_mark.set`` and ``_mark.reset`` themselves, for the request middleware:
#: these cost no Python frame.
push_mark = _mark.set
pop_mark = _mark.reset


#: Return the mark of the current request, or ``None`` outside one: the
#: ``ContextVar``'s own ``get``, so that a probe's check costs no frame.
#: The mark is the current scope (any scope has the flag).
current_mark = _mark.get


def is_suppressed() -> bool:
    """Return whether the current context's work must not be recorded."""
    mark = _mark.get()
    return mark is not None and mark.suppressed


@contextlib.contextmanager
def request_mark(suppressed: bool) -> Iterator[Mark]:
    """Give the block a fresh mark; the previous one is back afterwards.

    The mark is reset however the block ends, in sync and async code alike
    (each asyncio task runs in its own context).
    """
    mark, token = enter_mark(suppressed)
    try:
        yield mark
    finally:
        _mark.reset(token)


def enter_mark(suppressed: bool) -> tuple[Mark, Token[Mark | None]]:
    """Make a fresh mark current; give the token to ``exit_mark`` afterwards.

    ``request_mark`` without a generator, for the request middleware.
    """
    mark = RequestMark(suppressed)
    return mark, _mark.set(mark)


def exit_mark(token: Token[Mark | None]) -> None:
    """Make the mark that was current before ``enter_mark`` current again."""
    _mark.reset(token)


class _MarkedIterator:
    """Produce each item of a sync iterator with ``mark`` current.

    The mark is set around every step and reset right after it, so that it
    never stays current in the server's code between two chunks, however
    the iteration ends (exhausted, closed early, or abandoned).
    """

    __slots__ = ("_inner", "_mark")

    def __init__(self, inner: Iterator[Any], mark: Mark) -> None:
        self._inner = inner
        self._mark = mark

    def __iter__(self) -> _MarkedIterator:
        return self

    def __next__(self) -> Any:
        token = _mark.set(self._mark)
        try:
            return next(self._inner)
        finally:
            _mark.reset(token)


class _MarkedAsyncIterator:
    """Produce each item of an async iterator with ``mark`` current."""

    __slots__ = ("_inner", "_mark")

    def __init__(self, inner: AsyncIterator[Any], mark: Mark) -> None:
        self._inner = inner
        self._mark = mark

    def __aiter__(self) -> _MarkedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        # Awaiting the step runs the generator's code in this task's
        # context, so the mark set here is the one it sees.
        token = _mark.set(self._mark)
        try:
            return await self._inner.__anext__()
        finally:
            _mark.reset(token)


def carry_mark(response: HttpResponseBase, mark: Mark) -> None:
    """Keep ``mark`` current while ``response``'s body is produced and closed.

    Django iterates a streaming body (``StreamingHttpResponse``,
    ``FileResponse``) and calls ``close()`` after the middleware has
    returned, when the request's own mark is long reset; the work done
    there would otherwise be recorded as if no request had asked to be
    left out.
    """
    if response.streaming:
        streaming = cast(StreamingHttpResponse, response)
        # FileResponse forgets its file when the content is replaced, and a
        # WSGI server's file_wrapper (sendfile) needs it: the server then
        # reads the file itself, which records nothing anyway.
        file_to_stream = getattr(streaming, "file_to_stream", None)
        content = streaming.streaming_content
        if streaming.is_async:
            streaming.streaming_content = _MarkedAsyncIterator(
                cast(AsyncIterator[Any], content), mark
            )
        else:
            streaming.streaming_content = _MarkedIterator(
                cast(Iterator[Any], content), mark
            )
        if isinstance(streaming, FileResponse) and file_to_stream is not None:
            streaming.file_to_stream = file_to_stream
    close = response.close

    def close_marked() -> None:
        # close() runs the body's own closers (a generator's finally
        # blocks) and the request_finished receivers.
        token = _mark.set(mark)
        try:
            close()
        finally:
            _mark.reset(token)

    response.close = close_marked  # type: ignore[method-assign]


def keep_unmonitored(response: HttpResponseBase, mark: Mark) -> None:
    """``carry_mark``, logging a failure to ``perfprobe.request``, never raising.

    A request left out of the data stays out while its streaming body is
    produced and its response closed, after the middleware has returned.
    """
    try:
        carry_mark(response, mark)
    except Exception:
        log_failure(
            logger, "carry-mark", "perfprobe failed to keep a response unmonitored"
        )
