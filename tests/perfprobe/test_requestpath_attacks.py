"""Attacks on what the C request path takes as configured or caches.

Each test does something a user, a test suite or a tool may do (a clock
patched while the middleware is imported, a function's code replaced, a
class attribute's type changed) and checks that a request records what the
Python code records.
"""

from __future__ import annotations

import sys
import threading
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

from .test_requestpath_caches import quiet_events

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


def test_many_attributes_on_the_scope_are_followed(
    serve: Callable[..., HttpResponse], fresh_monitor: PerformanceMonitor
) -> None:
    """A scope given more attributes than its class's shared keys hold still records."""

    def crowd() -> None:
        scope: Any = current_scope.get()
        for i in range(40):
            setattr(scope, f"extra_{i}", i)

    for _ in range(3):
        serve(crowd)

    assert [e.scope for e in quiet_events(fresh_monitor)] == ["GET /quiet/"] * 3


class Traced(RequestScope):
    """A request scope that sees every attribute stored on it."""

    stored: list[str] = []

    def __setattr__(self, name: str, value: Any) -> None:
        Traced.stored.append(name)
        super().__setattr__(name, value)


def test_a_scope_whose_class_is_assigned_mid_request_is_recorded(
    serve: Callable[..., HttpResponse], fresh_monitor: PerformanceMonitor
) -> None:
    """A scope given another class inside the view is closed through that class."""
    Traced.stored = []

    def retype() -> None:
        scope: Any = current_scope.get()
        scope.__class__ = Traced

    serve(retype)
    serve()

    assert [e.scope for e in quiet_events(fresh_monitor)] == ["GET /quiet/"] * 2
    assert "request" in Traced.stored


def test_a_collector_swapped_mid_request_takes_the_request(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collector put back inside the view records that request, not the other."""
    old = fresh_monitor.collector
    serve()
    new = type(old)()
    monkeypatch.setattr(fresh_monitor, "collector", new)
    serve(lambda: None)

    def swap() -> None:
        fresh_monitor.collector = old

    serve(swap)

    def requests_in(collector: Any) -> int:
        events = collector.snapshot().recent_events
        return len([e for e in events if isinstance(e, RequestEvent)])

    assert (requests_in(old), requests_in(new)) == (2, 1)


def test_threads_serving_at_once_record_each_request_with_its_thread(
    serve: Callable[..., HttpResponse], fresh_monitor: PerformanceMonitor
) -> None:
    """Requests served by many threads at once are each recorded, with their thread."""
    served: dict[int, int] = {}
    start = threading.Barrier(6)

    def run() -> None:
        start.wait()
        for _ in range(25):
            serve()
        served[threading.get_ident()] = 25

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)

    events = quiet_events(fresh_monitor)
    counts: dict[int, int] = {}
    for event in events:
        counts[event.thread_id] = counts.get(event.thread_id, 0) + 1
    assert len({e.scope for e in events}) == 1
    assert counts == served
