"""Types of the optional C call-site walk; see ``callsite.walk_frames``."""

from collections.abc import Callable
from types import CodeType, FrameType

def walk(
    frame: FrameType | None,
    code_info: dict[int, str | int],
    classify: Callable[[CodeType], str | int],
    queryset_kind: int,
    async_kind: int,
    max_depth: int,
    /,
) -> tuple[
    str | None,
    FrameType | None,
    FrameType | None,
    list[tuple[int, FrameType]] | None,
]: ...
def caller_frame(depth: int, /) -> FrameType: ...
