"""Mark the work of one request as unmonitored, for every probe to skip."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar


class RequestMark:
    """Whether the work of the current request is kept out of the data.

    The middleware sets a fresh mark per request; it is a mutable object
    rather than a value so that ``process_view``, which learns the view only
    after the request has started, can switch it on for the rest of the
    request without setting (and having to reset) the ``ContextVar`` itself.
    A sync view run by ``sync_to_async`` sees the same object, since a
    copied context holds the same reference.
    """

    __slots__ = ("suppressed",)

    def __init__(self, suppressed: bool) -> None:
        self.suppressed = suppressed


_mark: ContextVar[RequestMark | None] = ContextVar(
    "perfprobe_request_mark", default=None
)


def current_mark() -> RequestMark | None:
    """Return the mark of the current request, or ``None`` outside one."""
    return _mark.get()


def is_suppressed() -> bool:
    """Return whether the current context's work must not be recorded."""
    mark = _mark.get()
    return mark is not None and mark.suppressed


@contextlib.contextmanager
def request_mark(suppressed: bool) -> Iterator[RequestMark]:
    """Give the block a fresh mark; the previous one is back afterwards.

    The mark is reset however the block ends, in sync and async code alike
    (each asyncio task runs in its own context).
    """
    mark = RequestMark(suppressed)
    token = _mark.set(mark)
    try:
        yield mark
    finally:
        _mark.reset(token)
