"""Walk the stack to the first user frame: in C where built, else in Python."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import CodeType, FrameType

from ..events import LazyLoad

# Set (to anything non-empty) to use the Python walk even where the C one in
# _callsite is built: for comparing the two, and as a way out should the C
# one ever misbehave.
PURE_PYTHON_ENV = "PERFPROBE_PURE_PYTHON"
Telling = list[tuple[int, FrameType]]
LazyMemo = dict[tuple[int, str, int, int, int], LazyLoad]


def walk_frames(
    frame: FrameType | None,
    code_info: dict[int, str | int],
    classify: Callable[[CodeType], str | int],
    queryset_kind: int,
    async_kind: int,
    max_depth: int,
    memo: LazyMemo,
    scope_id: int | None,
    sql: str | None,
) -> WalkResult:
    """Walk outward from ``frame`` to the first user frame or async boundary.

    Return ``(call_site, stop_frame, queryset_frame, telling, lazy)``:
    ``path:line`` of the user frame (else ``None``); the user frame or the
    boundary's frame (``None`` when neither was met within ``max_depth``
    frames); the innermost queryset frame; the other non-zero frame kinds
    met, innermost first, with their frames (``None`` for none); the lazy
    load ``memo`` holds for a walk to user code through one telling frame,
    in scope ``scope_id`` for ``sql`` (else ``None``). The definition of the
    walk and the fallback for the C one in ``_callsite``, which must return
    the same.
    """
    lookup = code_info.get
    queryset: FrameType | None = None
    # Rare, so the list is made only when one is seen.
    telling: Telling | None = None
    for _ in range(max_depth):
        if frame is None:
            break
        info = lookup(id(frame.f_code))
        if info is None:
            info = classify(frame.f_code)
        # Most frames are uninteresting library code (0): one test for them.
        # A display path is never empty, so user code always passes it.
        if info:
            # Queryset frames first: a query passes several of them.
            if info == queryset_kind:
                # Only the innermost queryset can be a related manager's.
                if queryset is None:
                    queryset = frame
            elif isinstance(info, str):
                lazy = None
                if (
                    telling is not None
                    and len(telling) == 1
                    and scope_id is not None
                    and sql is not None
                ):
                    key = (
                        scope_id,
                        sql,
                        id(frame.f_code),
                        frame.f_lasti,
                        telling[0][0],
                    )
                    lazy = memo.get(key)
                return f"{info}:{frame.f_lineno}", frame, queryset, telling, lazy
            elif info == async_kind:
                return None, frame, queryset, telling, None
            elif telling is None:
                telling = [(info, frame)]
            else:
                telling.append((info, frame))
        frame = frame.f_back
    return None, None, queryset, telling, None


WalkResult = tuple[
    str | None, FrameType | None, FrameType | None, Telling | None, LazyLoad | None
]
Walk = Callable[
    [
        FrameType | None,
        dict[int, str | int],
        Callable[[CodeType], str | int],
        int,
        int,
        int,
        LazyMemo,
        int | None,
        str | None,
    ],
    WalkResult,
]


def _forget_nothing() -> None:
    """Stand in for the C walk's ``forget()``: the Python walk keeps no cache."""


#: ``walk_stack(skip, ...)``: ``walk(sys._getframe(skip), ...)`` without a
#: frame object per frame passed; see ``_callsite.walk_stack``.
StackWalk = Callable[
    [
        int,
        dict[int, str | int],
        Callable[[CodeType], str | int],
        int,
        int,
        int,
        LazyMemo,
        int | None,
        str | None,
    ],
    WalkResult,
]


def load_extension() -> tuple[
    Walk, Callable[[int], FrameType], Callable[[], None], StackWalk | None
]:
    """Return the C walk, frame lookup, cache reset and stack walk where built.

    Otherwise (or with ``PERFPROBE_PURE_PYTHON`` set) return the Python
    walk, ``sys._getframe``, a no-op and ``None``. The stack walk is
    ``None`` too where the extension was built without it (any CPython but
    3.11).
    """
    python = (walk_frames, sys._getframe, _forget_nothing, None)
    if os.environ.get(PURE_PYTHON_ENV):
        return python
    try:
        from ._callsite import caller_frame, forget, walk
    except ImportError:
        return python
    stack: StackWalk | None
    try:
        from ._callsite import walk_stack as stack
    except ImportError:
        stack = None
    return walk, caller_frame, forget, stack
