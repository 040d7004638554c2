"""Tests that the C request path follows what its caches remember.

``perfprobe._reqpath`` keeps, per call site, where an attribute lives for
one type at one version of it, module globals at one version of their
module's dict, the clocks and the request scope's making while they are
the configured ones, and the thread id's int. Each test here changes one of
those things between requests and checks that the request sees the change,
through the C path and through the Python code alike.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from pytest_django import Settings

from perfprobe import PerformanceMonitor, middleware, requestscope
from perfprobe.events import RequestEvent
from perfprobe.middleware import PerformanceMiddleware
from perfprobe.requestscope import RequestScope
from perfprobe.scope import current_scope
from perfprobe.scopetable import ScopeTable

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_path")]

#: The attributes ``RequestScope.__init__`` sets, in its order (read from
#: its source).
INIT_FIELDS = ["parent", "id", "started_at", "started_ns", "task", "request", "tracker"]


@pytest.fixture
def scopes_seen() -> list[RequestScope]:
    """Collect the request scope current in each view call."""
    return []


@pytest.fixture
def serve(
    settings: Settings, fresh_monitor: PerformanceMonitor, scopes_seen: list[Any]
) -> Callable[..., HttpResponse]:
    """Return a function serving ``/quiet/`` through one middleware instance.

    Its first request is the Python code's (settings not yet seen); the
    fixture serves it and resets the monitor, so that a test's requests
    take the C path where it is built and find nothing recorded. ``work``
    runs inside the request, with its scope current.
    """
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    factory = RequestFactory()
    view: list[Callable[[], object]] = []

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve("/quiet/")
        scopes_seen.append(current_scope.get())
        for work in view:
            work()
        return HttpResponse("ok")

    handler = PerformanceMiddleware(get_response)
    handler(factory.get("/quiet/"))
    # A reset rebinds the collector's lists and scope history, as a test
    # between requests may.
    fresh_monitor.reset()
    scopes_seen.clear()

    def serve_one(work: Callable[[], object] | None = None) -> HttpResponse:
        view[:] = [] if work is None else [work]
        return handler(factory.get("/quiet/"))  # type: ignore[no-any-return]

    return serve_one


def quiet_events(monitor: PerformanceMonitor) -> list[RequestEvent]:
    """Return the recent request events of ``GET /quiet/``."""
    events = monitor.collector.snapshot().recent_events
    return [e for e in events if isinstance(e, RequestEvent) and e.route == "/quiet/"]


def test_a_scope_holds_inits_attributes_in_its_order(
    serve: Callable[..., HttpResponse], scopes_seen: list[RequestScope]
) -> None:
    """Each request's scope has __init__'s attributes, in order, and a new id."""
    serve()
    serve()

    first, second = scopes_seen
    assert list(vars(first)) == [*INIT_FIELDS, "name", "endpoint"]
    assert second.id == first.id + 1
    assert (first.parent, first.task, first.tracker) == (None, None, None)
    assert first.request is None and first.name == "GET /quiet/"


def test_a_replaced_next_scope_id_gives_the_ids(
    serve: Callable[..., HttpResponse],
    scopes_seen: list[RequestScope],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With requestscope.next_scope_id replaced, the scopes take its ids."""
    monkeypatch.setattr(requestscope, "next_scope_id", itertools.count(9000).__next__)
    serve()
    serve()

    assert [scope.id for scope in scopes_seen] == [9000, 9001]


def test_a_patched_init_runs(
    serve: Callable[..., HttpResponse],
    scopes_seen: list[RequestScope],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An __init__ patched on RequestScope after requests runs for the next."""
    serve()
    original = RequestScope.__init__

    def init(self: RequestScope, *args: Any) -> None:
        original(self, *args)
        self.kind = "patched"

    monkeypatch.setattr(RequestScope, "__init__", init)
    serve()

    assert [scope.kind for scope in scopes_seen] == ["request", "patched"]


def test_a_subclass_in_the_middleware_module_is_made(
    serve: Callable[..., HttpResponse],
    scopes_seen: list[RequestScope],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A RequestScope subclass put in the middleware module makes the scopes."""

    class Marked(RequestScope):
        may_wait = False

    serve()
    monkeypatch.setattr(middleware, "RequestScope", Marked)
    serve()

    assert [type(scope) for scope in scopes_seen] == [RequestScope, Marked]
    assert list(vars(scopes_seen[1]))[: len(INIT_FIELDS)] == INIT_FIELDS


def test_replaced_clocks_time_the_request(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The middleware module's clocks, replaced, give the start and duration."""
    ticks = iter([5_000_000_000, 7_500_000_000])
    monkeypatch.setattr(middleware, "_perf_counter_ns", lambda: next(ticks))
    monkeypatch.setattr(middleware, "_time", lambda: 1234.5)
    serve()

    (event,) = quiet_events(fresh_monitor)[-1:]
    assert (event.started_at, event.duration_s) == (1234.5, 2.5)


def test_a_property_put_on_the_scope_table_is_used(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data descriptor added to a class after requests is read and set."""
    serve()
    stored: list[int] = []

    def get(table: ScopeTable) -> int:
        return 40

    def put(table: ScopeTable, value: int) -> None:
        stored.append(value)

    monkeypatch.setattr(ScopeTable, "closed_count", property(get, put), raising=False)
    serve()

    assert stored == [41]


def test_instance_dicts_made_from_inline_values_are_followed(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    scopes_seen: list[RequestScope],
) -> None:
    """After vars() made the scope table's and the scope's dicts, all still counts."""
    serve()
    table = fresh_monitor.collector._scopes
    vars(table)
    serve(lambda: vars(current_scope.get()))
    serve()

    assert table.closed_count == 3
    assert [scope.name for scope in scopes_seen] == ["GET /quiet/"] * 3
    assert [scope.request for scope in scopes_seen] == [None] * 3
    assert len(quiet_events(fresh_monitor)) == 3


def test_a_scope_a_probe_named_is_recorded_under_its_route(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    scopes_seen: list[RequestScope],
) -> None:
    """A scope named inside the view keeps that name and lets go of its request."""
    serve(lambda: current_scope.get().name)  # type: ignore[union-attr]
    serve(lambda: current_scope.get().name)  # type: ignore[union-attr]

    assert [s.named_match is not None for s in scopes_seen] == [True, True]
    assert [s.request for s in scopes_seen] == [None, None]
    assert [e.route for e in quiet_events(fresh_monitor)] == ["/quiet/"] * 2


def test_a_scope_a_probe_named_ends_without_python_in_c(
    serve: Callable[..., HttpResponse], request_path: str
) -> None:
    """The C path ends a request a probe named without RequestScope.named."""
    ended: list[str] = []

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is RequestScope.named.__code__:
            ended.append("named")

    sys.setprofile(profile)
    try:
        serve(lambda: current_scope.get().name)  # type: ignore[union-attr]
    finally:
        sys.setprofile(None)

    assert ended == ([] if request_path == "c" else ["named"])


@pytest.mark.parametrize("made_dict", [False, True], ids=["values", "dict"])
def test_a_scope_a_probe_named_unmonitored_is_dropped(
    serve: Callable[..., HttpResponse],
    fresh_monitor: PerformanceMonitor,
    scopes_seen: list[RequestScope],
    made_dict: bool,
) -> None:
    """A scope a probe found suppressed is dropped, its dict made or not."""

    def suppress() -> None:
        scope: Any = current_scope.get()
        if made_dict:
            vars(scope)
        scope.name  # noqa: B018 - names the scope, as a probe does
        scope.suppressed = True

    serve(suppress)

    assert quiet_events(fresh_monitor) == []
    assert scopes_seen[0].request is None


def test_each_thread_records_its_own_id(
    serve: Callable[..., HttpResponse], fresh_monitor: PerformanceMonitor
) -> None:
    """Requests served by two threads carry each thread's own id."""
    serve()
    other = threading.Thread(target=serve)
    other.start()
    other.join()
    serve()

    threads = [event.thread_id for event in quiet_events(fresh_monitor)]
    assert threads == [threading.get_ident(), other.ident, threading.get_ident()]
