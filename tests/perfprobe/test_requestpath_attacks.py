"""Attacks on what the C request path takes as configured or caches.

Each test does something a user, a test suite or a tool may do (a clock
patched while the middleware is imported, a function's code replaced, a
class attribute's type changed) and checks that a request records what the
Python code records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from pytest_django import Settings

from perfprobe import PerformanceMonitor, middleware, requestend
from perfprobe.events import RequestEvent
from perfprobe.middleware import PerformanceMiddleware
from perfprobe.requestscope import RequestScope
from perfprobe.scope import current_scope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]


def configure_again() -> None:
    """Give the C path its state again, as importing the middleware does."""
    if middleware._c_path is not None:
        requestend.configure_c_path(
            middleware._c_path, middleware.python_call, middleware
        )


@pytest.fixture
def reconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Let a test configure the C path again; configure it afresh after.

    The test's patches are undone first, so the C path is given the real
    clocks again.
    """
    yield configure_again
    monkeypatch.undo()
    configure_again()


@pytest.fixture
def serve(
    settings: Settings, fresh_monitor: PerformanceMonitor
) -> Callable[..., HttpResponse]:
    """Return a function serving ``/quiet/`` through one middleware instance.

    The first request (the Python code's: settings not yet seen) is served
    and forgotten, so the test's requests take the C path where it is built.
    """
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    factory = RequestFactory()
    view: list[Callable[[], object]] = []

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve("/quiet/")
        for work in view:
            work()
        return HttpResponse("ok")

    handler = PerformanceMiddleware(get_response)
    handler(factory.get("/quiet/"))
    fresh_monitor.reset()

    def serve_one(work: Callable[[], object] | None = None) -> HttpResponse:
        view[:] = [] if work is None else [work]
        return handler(factory.get("/quiet/"))  # type: ignore[no-any-return]

    return serve_one


def quiet_events(monitor: PerformanceMonitor) -> list[RequestEvent]:
    """Return the recent request events of ``GET /quiet/``."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, RequestEvent) and e.route == "/quiet/"]


def test_a_wall_clock_patched_at_import_gives_the_start(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    reconfigured: Callable[[], None],
) -> None:
    """time.time patched while the middleware is imported (freezegun) is called.

    The module binds ``_time = time.time`` at import and configures the C
    path with ``time.time``: both are then the fake, which must be called,
    not stood in for by the system clock.
    """

    def frozen() -> float:
        return 1234.5

    monkeypatch.setattr(time, "time", frozen)
    monkeypatch.setattr(middleware, "_time", frozen)
    reconfigured()
    serve()

    assert [event.started_at for event in quiet_events(fresh_monitor)] == [1234.5]


def test_a_perf_clock_patched_at_import_times_the_request(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    reconfigured: Callable[[], None],
) -> None:
    """time.perf_counter_ns patched while the middleware is imported is called."""
    ticks = iter([5_000_000_000, 7_500_000_000])

    def ticking() -> int:
        return next(ticks)

    monkeypatch.setattr(time, "perf_counter_ns", ticking)
    monkeypatch.setattr(middleware, "_perf_counter_ns", ticking)
    reconfigured()
    serve()

    assert [event.duration_s for event in quiet_events(fresh_monitor)] == [2.5]


def test_another_builtin_put_for_the_clock_is_called(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    reconfigured: Callable[[], None],
) -> None:
    """A builtin of the time module put for time.time at import is what is read."""
    monkeypatch.setattr(time, "time", time.monotonic)
    monkeypatch.setattr(middleware, "_time", time.monotonic)
    reconfigured()
    before = time.monotonic()
    serve()
    after = time.monotonic()

    (event,) = quiet_events(fresh_monitor)
    assert before <= event.started_at <= after


def test_init_code_replaced_runs(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RequestScope.__init__ given other code (its __code__) runs that code."""
    seen: list[Any] = []
    serve()

    def init(
        self: Any,
        parent: Any,
        started_at: Any,
        started_ns: Any,
        task: Any,
        request: Any = None,
        tracker: Any = None,
    ) -> None:
        self.parent = parent
        self.id = next_scope_id()  # type: ignore[name-defined]  # noqa: F821
        self.started_at = started_at
        self.started_ns = started_ns
        self.task = task
        self.request = request
        self.tracker = tracker
        self.kind = "patched"

    monkeypatch.setattr(RequestScope.__init__, "__code__", init.__code__)
    serve(lambda: seen.append(current_scope.get().kind))  # type: ignore[union-attr]

    assert seen == ["patched"]
    assert len(quiet_events(fresh_monitor)) == 2


def test_an_init_patched_at_import_runs(
    serve: Callable[..., HttpResponse],
    monkeypatch: pytest.MonkeyPatch,
    reconfigured: Callable[[], None],
) -> None:
    """An __init__ already patched when the C path is configured still runs."""
    original = RequestScope.__init__
    seen: list[Any] = []

    def init(self: RequestScope, *args: Any) -> None:
        original(self, *args)
        self.kind = "patched"

    monkeypatch.setattr(RequestScope, "__init__", init)
    reconfigured()
    serve(lambda: seen.append(current_scope.get().kind))  # type: ignore[union-attr]

    assert seen == ["patched"]


class Code(int):
    """A status code kept as a class attribute; a test gives its type __get__."""


class CodeResponse(HttpResponse):
    """A response whose status is its class's ``status_code``, unless given."""

    status_code = Code(200)


@pytest.mark.parametrize("given", [None, 201], ids=["class-value", "own-value"])
def test_a_class_value_whose_type_turns_descriptor_is_obeyed(
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    given: int | None,
) -> None:
    """A class attribute whose type becomes a descriptor is read through it.

    The response's class holds ``status_code``; the C path keeps where it
    found the status for the response's class at its version, which does
    not change when the class value's own type is changed. Given __get__
    (and __set__, which makes it win over the response's own status), the
    status read is what __get__ returns, as Python's attribute read gives.
    """
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    factory = RequestFactory()

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve("/quiet/")
        return CodeResponse("ok", status=given)

    handler = PerformanceMiddleware(get_response)
    handler(factory.get("/quiet/"))
    fresh_monitor.reset()
    handler(factory.get("/quiet/"))

    def get(self: Code, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else 503

    def put(self: Code, obj: Any, value: Any) -> None:
        vars(obj)["status_code"] = value

    monkeypatch.setattr(Code, "__get__", get, raising=False)
    monkeypatch.setattr(Code, "__set__", put, raising=False)
    handler(factory.get("/quiet/"))

    first = 200 if given is None else given
    assert [event.status for event in quiet_events(fresh_monitor)] == [first, 503]
