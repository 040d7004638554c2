"""Tests for perfprobe.scope: scopes, the request's own scope, the task reference."""

from __future__ import annotations

import asyncio
import dataclasses

from perfprobe.requestscope import RequestScope
from perfprobe.scope import Scope, current_task_ref


def test_a_request_scope_is_a_scope_with_the_defaults_it_left_out() -> None:
    """Fields its __init__ does not set read as the dataclass defaults."""
    parent = Scope(name="job")
    scope = RequestScope(parent, 1_000.0, 5, None)

    assert isinstance(scope, Scope)
    assert (scope.name, scope.kind, scope.started_at, scope.started_ns) == (
        "request",
        "request",
        1_000.0,
        5,
    )
    assert (scope.summary, scope.tracker, scope.suppressed, scope.endpoint) == (
        None,
        None,
        False,
        None,
    )
    assert scope.path == "job/request"
    assert scope.lineage() == [scope, parent]
    assert [f.name for f in dataclasses.fields(scope)] == [
        f.name for f in dataclasses.fields(Scope)
    ]
    assert scope.id > parent.id


def test_the_task_reference_is_none_in_sync_code_and_the_task_in_a_task() -> None:
    """Outside an event loop no task; inside one, a weak reference to it."""

    async def inside() -> bool:
        ref = current_task_ref()
        return ref is not None and ref() is asyncio.current_task()

    assert current_task_ref() is None
    assert asyncio.run(inside())
