"""Types of the optional C call-site walk; see ``callsite.walk_frames``."""

from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from ..events import LazyLoad

def walk(
    frame: FrameType | None,
    code_info: dict[int, str | int],
    classify: Callable[[CodeType], str | int],
    queryset_kind: int,
    async_kind: int,
    max_depth: int,
    memo: dict[tuple[int, str, int, int, int], LazyLoad],
    scope_id: int | None,
    sql: str | None,
    /,
) -> tuple[
    str | None,
    FrameType | None,
    FrameType | None,
    list[tuple[int, FrameType]] | None,
    LazyLoad | None,
]: ...
def walk_stack(
    skip: int,
    code_info: dict[int, str | int],
    classify: Callable[[CodeType], str | int],
    queryset_kind: int,
    async_kind: int,
    max_depth: int,
    memo: dict[tuple[int, str, int, int, int], LazyLoad],
    scope_id: int | None,
    sql: str | None,
    /,
) -> tuple[
    str | None,
    FrameType | None,
    FrameType | None,
    list[tuple[int, FrameType]] | None,
    LazyLoad | None,
]: ...
def caller_frame(depth: int, /) -> FrameType: ...
def flat_hash(params: object, plain: frozenset[object], /) -> int | None: ...
def forget() -> None: ...

class Walker:
    """``walk_stack`` with its settings bound; see ``callsite._origin``."""

    def __init__(
        self,
        code_info: dict[int, str | int],
        classify: Callable[[CodeType], str | int],
        queryset_kind: int,
        async_kind: int,
        max_depth: int,
        memo: dict[tuple[int, str, int, int, int], LazyLoad],
        resolve: Callable[
            [
                tuple[
                    str | None,
                    FrameType | None,
                    FrameType | None,
                    list[tuple[int, FrameType]] | None,
                    LazyLoad | None,
                ],
                Any,
                str | None,
            ],
            tuple[str | None, LazyLoad | None, int],
        ],
        plain: frozenset[object],
        /,
    ) -> None: ...
    def __call__(
        self,
        skip: int,
        scope: Any,
        scope_id: int | None,
        sql: str | None,
        params: Any,
        /,
    ) -> tuple[str | None, LazyLoad | None, int, int | None]: ...
