"""Types of the optional C request path; see ``middleware`` and ``_reqpath.c``."""

from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

class RequestPath:
    get_response: Callable[[Any], Any]
    _is_async: bool
    _monitors_all: object
    _store_query_strings: bool
    def __call__(self, request: Any, /) -> Any: ...

def configure(
    python_call: Callable[..., Any],
    finish: Callable[..., Any],
    abandon: Callable[..., Any],
    log_record: Callable[[], None],
    current_scope: ContextVar[Any],
    running_loop: Callable[[], Any],
    middleware: ModuleType,
    monitoring: ModuleType,
    conf: ModuleType,
    tracing: ModuleType,
    endpoint_names: dict[Any, Any],
    unmonitored_attr: str,
    collector_type: type,
    request_ended: Callable[..., Any],
    request_batch: int,
    /,
) -> None: ...
