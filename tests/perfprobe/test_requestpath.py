"""Tests for the middleware's C path (perfprobe._reqpath) against its Python code."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve
from pytest_django import Settings

from perfprobe import PerformanceMonitor, middleware, monitoring, routes
from perfprobe.collector import Collector
from perfprobe.events import RequestEvent
from perfprobe.middleware import PerformanceMiddleware
from perfprobe.requestend import finish
from perfprobe.requestrecorder import RequestRecorder
from perfprobe.requestscope import RequestScope
from perfprobe.scope import current_scope
from perfprobe.sketch import PURE_PYTHON_ENV

from .extensions import REQUIRE_ENV, needs_extension

pytestmark = pytest.mark.django_db

needs_c = needs_extension(middleware._c_path, "the C request path")


@pytest.fixture
def test_urls(settings: Settings) -> None:
    """Serve the small views of ``middleware_urls``."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"


def python_frames(work: Callable[[], object]) -> Counter[str]:
    """Run ``work``; count the calls of the Python code the C path replaces."""
    watched = {
        middleware.python_call.__code__: "python_call",
        finish.__code__: "finish",
        RequestScope.named.__code__: "named",
        RequestRecorder.request_ended.__code__: "request_ended",
    }
    counts: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "call" and frame.f_code in watched:
            counts[watched[frame.f_code]] += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return counts


def served(path: str) -> Callable[[HttpRequest], HttpResponse]:
    """Return a ``get_response`` that resolves ``path`` and answers 200."""

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve(path)
        return HttpResponse("ok")

    return get_response


def request_counts(collector: Collector) -> dict[tuple[str, str], int]:
    """Return the number of requests recorded per endpoint."""
    return {
        key: ep["stats"].count for key, ep in collector.snapshot().endpoints.items()
    }


def test_the_extension_is_built_where_required() -> None:
    """With PERFPROBE_REQUIRE_EXTENSION set, the C request path must be built."""
    if not os.environ.get(REQUIRE_ENV):
        pytest.skip(f"{REQUIRE_ENV} is not set")
    importlib.import_module("perfprobe._reqpath")
    if not os.environ.get(PURE_PYTHON_ENV):
        assert middleware._c_path is not None
        assert "__call__" not in vars(PerformanceMiddleware)


@needs_c
def test_a_quiet_request_runs_none_of_the_python_it_replaces(
    test_urls: None, client: Client, fresh_monitor: PerformanceMonitor
) -> None:
    """Past the first request, a quiet one runs no Python of the middleware's."""
    client.get("/quiet/")

    counts = python_frames(lambda: [client.get("/quiet/") for _ in range(5)])

    assert counts == Counter()
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 6}


def test_the_python_fixture_serves_through_the_python_code(
    test_urls: None,
    client: Client,
    request_path: str,
) -> None:
    """With the Python code put back, each request runs ``python_call``."""
    client.get("/quiet/")

    counts = python_frames(lambda: [client.get("/quiet/") for _ in range(3)])

    expected = 3 if request_path == "python" else 0
    assert counts["python_call"] == expected


@pytest.mark.usefixtures("request_path")
def test_both_paths_record_a_mixed_script_alike(
    test_urls: None, fresh_monitor: PerformanceMonitor, settings: Settings
) -> None:
    """Routes, a 404, a 500, queries and an unmonitored view: counted by hand."""
    client = Client(raise_request_exception=False)
    statuses = Counter()
    for path in ["/quiet/"] * 5 + ["/three/"] * 3 + ["/nowhere/"] * 2:
        statuses[client.get(path).status_code] += 1
    for path in ["/boom/", "/hidden/", "/boom/", "/hidden/", "/quiet/"]:
        statuses[client.get(path).status_code] += 1

    snapshot = fresh_monitor.collector.snapshot()
    counts = {key: ep["stats"].count for key, ep in snapshot.endpoints.items()}
    assert statuses == Counter({200: 11, 404: 2, 500: 2})
    assert counts == {
        ("GET", "/quiet/"): 6,
        ("GET", "/three/"): 3,
        ("GET", "(unmatched)"): 2,
        ("GET", "/boom/"): 2,
    }
    assert snapshot.endpoints[("GET", "/three/")]["query_counts"].total == 9
    assert snapshot.skipped_requests == {"unmonitored_view": 2}
    assert snapshot.error_counts == {("request", "GET /boom/", "KeyError"): 2}
    names = Counter(summary.name for summary in snapshot.scopes)
    assert names == Counter(
        {"GET /quiet/": 6, "GET /three/": 3, "GET (unmatched)": 2, "GET /boom/": 2}
    )
    events = [e for e in snapshot.recent_events if isinstance(e, RequestEvent)]
    assert len(events) == 13
    assert Counter(e.status for e in events) == Counter({200: 9, 404: 2, 500: 2})


@pytest.mark.usefixtures("request_path")
def test_a_subclass_calling_super_is_recorded_once_a_request(
    fresh_monitor: PerformanceMonitor, settings: Settings, test_urls: None
) -> None:
    """A user's subclass wraps the call and each request is still recorded."""
    seen: list[str] = []

    class Wrapped(PerformanceMiddleware):
        def __call__(self, request: HttpRequest) -> Any:
            seen.append(request.path)
            return super().__call__(request)

    wrapped = Wrapped(served("/quiet/"))
    factory = RequestFactory()
    responses = [wrapped(factory.get("/quiet/")) for _ in range(3)]

    assert [r.status_code for r in responses] == [200] * 3
    assert seen == ["/quiet/"] * 3
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 3}


@pytest.mark.usefixtures("request_path")
def test_a_monitor_replaced_at_run_time_takes_the_next_request(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    test_urls: None,
) -> None:
    """``monitoring.monitor`` is read per request: a new one gets the next ones."""
    client.get("/quiet/")
    other = PerformanceMonitor(Collector())
    monkeypatch.setattr(monitoring, "monitor", other)

    client.get("/quiet/")
    client.get("/quiet/")

    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 1}
    assert request_counts(other.collector) == {("GET", "/quiet/"): 2}


@pytest.mark.usefixtures("request_path")
def test_a_view_exception_passes_through_with_its_traceback(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """The very exception, its traceback through the view; the scope is closed."""
    error = ValueError("from the view")

    def failing_view(request: HttpRequest) -> HttpResponse:
        raise error

    wrapped = PerformanceMiddleware(failing_view)
    factory = RequestFactory()
    for _ in range(2):
        with pytest.raises(ValueError) as raised:
            wrapped(factory.get("/anything/"))
        assert raised.value is error
        frames = [f.name for f in traceback.extract_tb(raised.value.__traceback__)]
        assert frames[-1] == "failing_view"
        assert current_scope.get() is None

    snapshot = fresh_monitor.collector.snapshot()
    assert snapshot.scopes_closed == 2
    assert snapshot.endpoints == {}


@pytest.mark.usefixtures("request_path")
def test_an_interruption_in_the_view_passes_through(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A ``BaseException`` that is no ``Exception`` is not swallowed either."""

    def interrupted(request: HttpRequest) -> HttpResponse:
        raise KeyboardInterrupt

    wrapped = PerformanceMiddleware(interrupted)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            wrapped(RequestFactory().get("/"))
        assert current_scope.get() is None
    assert fresh_monitor.collector.snapshot().scopes_closed == 2


class CountingCollector(Collector):
    """A user's collector that notes every request it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[tuple[Any, ...]] = []

    def request_ended(self, scope: Any, request: Any) -> None:
        self.ended.append(request)
        super().request_ended(scope, request)


@pytest.mark.usefixtures("request_path")
def test_a_collector_subclass_is_given_each_request(
    monkeypatch: pytest.MonkeyPatch, client: Client, test_urls: None
) -> None:
    """A collector's own ``request_ended`` is called, not the quiet branch in C."""
    collector = CountingCollector()
    monkeypatch.setattr(monitoring, "monitor", PerformanceMonitor(collector))

    for _ in range(4):
        client.get("/quiet/")

    assert [(r[0], r[1]) for r in collector.ended] == [(("GET", "/quiet/"), 200)] * 4
    assert request_counts(collector) == {("GET", "/quiet/"): 4}


@pytest.mark.usefixtures("request_path")
def test_a_request_ended_patched_on_the_class_is_called(
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    test_urls: None,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """A class-level replacement of ``request_ended`` is honoured too."""
    ended: list[Any] = []
    monkeypatch.setattr(
        Collector, "request_ended", lambda self, scope, request: ended.append(request)
    )

    for _ in range(3):
        client.get("/quiet/")

    assert len(ended) == 3
    assert request_counts(fresh_monitor.collector) == {}


@pytest.mark.usefixtures("request_path")
def test_a_request_ended_set_on_the_collector_is_called(
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    test_urls: None,
    fresh_monitor: PerformanceMonitor,
) -> None:
    """So is one set on the collector itself, for a quiet request too."""
    ended: list[Any] = []
    monkeypatch.setattr(
        fresh_monitor.collector,
        "request_ended",
        lambda scope, request: ended.append(request),
    )

    for _ in range(3):
        client.get("/quiet/")

    assert [(r[0], r[1]) for r in ended] == [(("GET", "/quiet/"), 200)] * 3
    assert request_counts(fresh_monitor.collector) == {}


@pytest.mark.usefixtures("request_path")
def test_a_status_perfprobe_cannot_read_is_logged_not_raised(
    fresh_monitor: PerformanceMonitor,
    caplog: pytest.LogCaptureFixture,
    test_urls: None,
) -> None:
    """A response whose status is no number: logged with its exception, returned."""
    response = HttpResponse("odd")

    def odd_view(request: HttpRequest) -> HttpResponse:
        request.resolver_match = resolve("/quiet/")
        response.status_code = "two hundred"  # type: ignore[assignment]
        return response

    wrapped = PerformanceMiddleware(odd_view)
    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        returned = [wrapped(RequestFactory().get("/quiet/")) for _ in range(2)]

    assert returned == [response, response]
    failures = [r for r in caplog.records if "record a request" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None
    assert failures[0].exc_info[0] is ValueError
    assert current_scope.get() is None


@pytest.mark.usefixtures("request_path")
def test_a_request_listener_hears_each_quiet_request(
    fresh_monitor: PerformanceMonitor, client: Client, test_urls: None
) -> None:
    """A listener turns the C quiet branch off: each request is heard."""
    heard: list[RequestEvent] = []
    fresh_monitor.collector.add_request_listener(heard.append)
    try:
        for _ in range(3):
            client.get("/quiet/")
    finally:
        fresh_monitor.collector.remove_request_listener(heard.append)

    assert [(e.route, e.status) for e in heard] == [("/quiet/", 200)] * 3


@pytest.mark.usefixtures("request_path")
def test_query_strings_are_kept_when_asked(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    test_urls: None,
    settings: Settings,
) -> None:
    """``STORE_QUERY_STRINGS`` keeps each request's query string, else none."""
    settings.PERFPROBE = {"STORE_QUERY_STRINGS": True}
    client.get("/quiet/?page=2")
    client.get("/quiet/?page=3")
    client.get("/quiet/")

    events = [
        e
        for e in fresh_monitor.collector.snapshot().recent_events
        if isinstance(e, RequestEvent)
    ]
    assert [e.query_string for e in events] == ["page=2", "page=3", None]


@pytest.fixture
def blocked_extension() -> Iterator[str]:
    """Return code that makes ``perfprobe._reqpath`` fail to import."""
    yield (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'perfprobe._reqpath':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )


@pytest.mark.parametrize("how", ["environment", "no extension"])
def test_without_the_c_path_the_python_code_serves(
    how: str, blocked_extension: str
) -> None:
    """Under ``PERFPROBE_PURE_PYTHON`` or without the build: Python's ``__call__``."""
    code = (blocked_extension if how == "no extension" else "") + (
        "import os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'demo_site.settings'\n"
        "import django; django.setup()\n"
        "from perfprobe import middleware as m\n"
        "print(m._c_path is None, 'perfprobe._reqpath' in sys.modules,\n"
        "      m.PerformanceMiddleware.__call__ is m.python_call)\n"
    )
    env = {"PERFPROBE_PURE_PYTHON": "1"} if how == "environment" else {}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "False", "True"]


class RenamingView:
    """A view object whose attribute look-ups name its endpoint anew.

    As another thread's first request of the same route would: an equal
    endpoint tuple replaces the one kept, which is let go of; then a
    tuple of the same size is made, which may take its memory.
    """

    def __init__(self, route: str) -> None:
        self.route = route
        self.made: list[tuple[str, str]] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    def __getattr__(self, name: str) -> Any:
        by_method = routes.endpoint_names.get(self.route, {})
        if "GET" in by_method:
            path = "/" + self.route
            by_method["GET"] = ("GET " + path, ("GET", path))
            self.made.append(tuple(["GET /elsewhere/", "x"]))
        raise AttributeError(name)


@pytest.mark.usefixtures("request_path")
def test_an_endpoint_renamed_while_the_view_is_read_keeps_its_name(
    fresh_monitor: PerformanceMonitor, test_urls: None
) -> None:
    """The endpoint found is held while the view's attributes run user code."""
    match = resolve("/quiet/")
    match.func = RenamingView(match.route)

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = match
        return HttpResponse("ok")

    wrapped = PerformanceMiddleware(get_response)
    for _ in range(3):
        wrapped(RequestFactory().get("/quiet/"))

    names = [summary.name for summary in fresh_monitor.collector.snapshot().scopes]
    assert names == ["GET /quiet/"] * 3
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 3}


@pytest.mark.usefixtures("request_path")
def test_an_interruption_before_the_view_passes_through(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    test_urls: None,
) -> None:
    """A ``KeyboardInterrupt`` raised as the scope is made is not swallowed.

    As a signal handler would raise it, once, in whatever Python code runs
    then: the request is not served again in its place.
    """
    served: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        served.append(request.path)
        request.resolver_match = resolve("/quiet/")
        return HttpResponse("ok")

    made: list[int] = []

    class InterruptedOnce(RequestScope):
        def __init__(self, *args: Any) -> None:
            made.append(1)
            if len(made) == 1:
                raise KeyboardInterrupt
            super().__init__(*args)

    wrapped = PerformanceMiddleware(view)
    wrapped(RequestFactory().get("/quiet/"))  # its settings seen
    monkeypatch.setattr(middleware, "RequestScope", InterruptedOnce)

    with pytest.raises(KeyboardInterrupt):
        wrapped(RequestFactory().get("/quiet/"))

    assert served == ["/quiet/"]
    assert current_scope.get() is None
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 1}


class BrokenScope(RequestScope):
    """A request scope that cannot be made."""

    def __init__(self, *args: Any) -> None:
        raise RuntimeError("no scope")


@pytest.mark.usefixtures("request_path")
def test_a_scope_that_cannot_be_made_is_logged_and_the_view_served(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    test_urls: None,
) -> None:
    """The request is served unrecorded; the failure is logged, never raised."""
    wrapped = PerformanceMiddleware(served("/quiet/"))
    wrapped(RequestFactory().get("/quiet/"))  # its settings seen
    monkeypatch.setattr(middleware, "RequestScope", BrokenScope)

    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        responses = [wrapped(RequestFactory().get("/quiet/")) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    failures = [r for r in caplog.records if "open scope" in r.getMessage()]
    assert len(failures) == 2
    assert current_scope.get() is None
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 1}


def test_an_async_request_whose_scope_cannot_be_made_is_served(
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    test_urls: None,
) -> None:
    """So is an asynchronous one, with its view's exception unchanged."""
    error = ValueError("from the view")

    async def view(request: HttpRequest) -> HttpResponse:
        if request.path == "/boom/":
            raise error
        return HttpResponse("ok")

    wrapped = PerformanceMiddleware(view)
    monkeypatch.setattr(middleware, "RequestScope", BrokenScope)

    response = asyncio.run(wrapped(RequestFactory().get("/quiet/")))
    with pytest.raises(ValueError) as raised:
        asyncio.run(wrapped(RequestFactory().get("/boom/")))

    assert response.status_code == 200
    assert raised.value is error
    assert raised.value.__context__ is None
    assert request_counts(fresh_monitor.collector) == {}


class InterruptedView:
    """A view whose first attribute look-up once armed is interrupted.

    As a signal handler raising ``KeyboardInterrupt`` in its Python code
    would; the other look-ups find nothing.
    """

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    def __getattr__(self, name: str) -> Any:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        raise AttributeError(name)


@pytest.mark.usefixtures("request_path")
def test_an_interruption_while_the_scope_is_named_passes_through(
    fresh_monitor: PerformanceMonitor, test_urls: None
) -> None:
    """A ``KeyboardInterrupt`` from the view's attributes is not swallowed."""
    match = resolve("/quiet/")
    match.func = view = InterruptedView()

    def get_response(request: HttpRequest) -> HttpResponse:
        request.resolver_match = match
        return HttpResponse("ok")

    wrapped = PerformanceMiddleware(get_response)
    wrapped(RequestFactory().get("/quiet/"))  # its settings and route seen
    view.armed = True

    with pytest.raises(KeyboardInterrupt):
        wrapped(RequestFactory().get("/quiet/"))

    assert current_scope.get() is None
    assert request_counts(fresh_monitor.collector) == {("GET", "/quiet/"): 1}
