"""Types of the optional C query recorder; see ``instrument.recorder``."""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

def recorder(
    execute: Callable[[str, Any, bool, dict[str, Any]], Any],
    sql: str,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any: ...
def bind(
    instrument_globals: dict[str, Any],
    conf: ModuleType,
    monitoring: ModuleType,
    tracing: ModuleType,
    callsite: ModuleType,
    current_scope: ContextVar[Any],
    python_recorder: Callable[..., Any],
    log_answers: dict[int, bool],
    logger: logging.Logger,
    perf_counter_ns: Callable[[], int],
    time: Callable[[], float],
    /,
) -> None: ...
