"""Tests for perfprobe.tracing.unmonitored: unmonitored views make no spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client
from django.urls import path, re_path
from opentelemetry import trace
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from pytest_django import Settings

from perfprobe import tracing
from perfprobe.access import unmonitored
from perfprobe.prometheus import runtime
from perfprobe.tracing import unmonitored as unmonitored_module
from perfprobe.tracing.unmonitored import is_unmonitored_path

from .tracing_urls import hidden

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "scrape-token-0123456789"
REPORT_TOKEN = "report-token-0123456789"


@pytest.fixture
def exporter(
    span_exporter: InMemorySpanExporter, settings: Settings
) -> Iterator[InMemorySpanExporter]:
    """Capture spans of the tracing views, with /metrics and the report readable."""
    settings.ROOT_URLCONF = "tests.perfprobe.tracing_urls"
    settings.PERFPROBE = {
        "PROMETHEUS": True,
        "METRICS_TOKEN": METRICS_TOKEN,
        "REPORT_TOKEN": REPORT_TOKEN,
    }
    yield span_exporter
    runtime.uninstall()


def bearer(token: str) -> dict[str, str]:
    """Return the headers that carry ``token``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("/metrics", METRICS_TOKEN),
        ("/perfprobe/", REPORT_TOKEN),
        ("/perfprobe/report.json", REPORT_TOKEN),
    ],
)
def test_perfprobe_own_pages_make_no_span(
    exporter: InMemorySpanExporter, url: str, token: str
) -> None:
    """A scrape or a report read is answered and exports nothing."""
    assert Client().get(url, headers=bearer(token)).status_code == 200
    assert async_to_sync(AsyncClient().get)(url, headers=bearer(token)).status_code == (
        200
    )

    assert exporter.get_finished_spans() == ()


class StartCounter(SpanProcessor):
    """Count the spans started, ended or not."""

    def __init__(self) -> None:
        self.started = 0

    def on_start(self, span: SdkSpan, parent_context: object = None) -> None:
        self.started += 1


def test_a_fixed_unmonitored_path_starts_no_span_at_all(
    exporter: InMemorySpanExporter,
) -> None:
    """A scrape is known before the view runs: no processor sees a span start."""
    provider = tracing._provider_override
    assert isinstance(provider, TracerProvider)
    counter = StartCounter()
    provider.add_span_processor(counter)

    Client().get("/metrics", headers=bearer(METRICS_TOKEN))
    Client().get("/hidden/")
    assert counter.started == 0
    Client().get("/nap/")
    assert counter.started == 2  # the request and its query


@pytest.mark.parametrize("url", ["/hidden/", "/hidden/5/"])
def test_an_unmonitored_view_makes_no_span_nor_child_span(
    exporter: InMemorySpanExporter, url: str
) -> None:
    """Neither its request, its block nor its query is exported, fixed path or not.

    The next request's span is a root: nothing of the dropped one was left
    current.
    """
    assert Client().get(url).content == b"hidden"
    assert exporter.get_finished_spans() == ()

    Client().get("/nap/")
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "GET /nap/"
    assert server.parent is None
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.parametrize("url", ["/async-hidden/", "/async-hidden/7/"])
def test_an_unmonitored_async_view_makes_no_span(
    exporter: InMemorySpanExporter, url: str
) -> None:
    """Served through the middleware's async path, it exports nothing either."""
    response = async_to_sync(AsyncClient().get)(url)

    assert response.content == b"hidden"
    assert exporter.get_finished_spans() == ()


def test_another_instrumentation_span_is_left_without_a_route(
    exporter: InMemorySpanExporter,
) -> None:
    """Under a joined SERVER span, an unmonitored view adds nothing to it."""
    provider = tracing._provider_override
    tracer = trace.get_tracer("other-instrumentation", tracer_provider=provider)
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):
        Client().get("/hidden/5/")

    (outer,) = exporter.get_finished_spans()
    assert outer.name == "GET"
    assert dict(outer.attributes or {}) == {}


def plain(request: HttpRequest) -> HttpResponse:
    """Answer 200; a monitored view."""
    return HttpResponse("plain")


@unmonitored
def shadowed(request: HttpRequest) -> HttpResponse:
    """Answer 200; unmonitored, but mounted after a pattern that takes its path."""
    return HttpResponse("shadowed")


#: Read as a URLconf by the test below: /taken is served by ``plain``.
urlpatterns = [
    re_path(r"^tak", plain),
    path("taken", shadowed),
    path("free", hidden),
]


def test_only_paths_resolving_to_an_unmonitored_view_are_listed(
    settings: Settings,
) -> None:
    """A fixed path that an earlier pattern takes is traced like any other."""
    settings.ROOT_URLCONF = __name__

    assert is_unmonitored_path("/free")
    assert not is_unmonitored_path("/taken")
    assert not is_unmonitored_path("/elsewhere")


def test_untraced_requests_never_look_at_the_urlconf(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a tracer provider, neither middleware path lists unmonitored paths."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    settings.ROOT_URLCONF = "tests.perfprobe.tracing_urls"
    tracing.reset()
    looked: list[str] = []
    monkeypatch.setattr(unmonitored_module, "is_unmonitored_path", looked.append)

    assert Client().get("/nap/").status_code == 200
    assert async_to_sync(AsyncClient().get)("/nap/").status_code == 200
    assert Client().get("/hidden/5/").status_code == 200

    assert looked == []


class OtherSite:
    """A URLconf where /metrics is an ordinary, monitored page."""

    urlpatterns = [path("metrics", plain)]


def other_site(get_response: Any) -> Any:
    """Serve every request from ``OtherSite``, as a per-host middleware would."""

    def middleware(request: HttpRequest) -> Any:
        request.urlconf = OtherSite
        return get_response(request)

    return middleware


def test_a_request_urlconf_set_before_perfprobe_is_the_one_read(
    exporter: InMemorySpanExporter, settings: Settings
) -> None:
    """/metrics is unmonitored in ROOT_URLCONF, not in the request's own URLconf."""
    settings.MIDDLEWARE = [
        f"{__name__}.other_site",
        "perfprobe.middleware.PerformanceMiddleware",
    ]

    assert Client().get("/metrics").content == b"plain"

    (server,) = exporter.get_finished_spans()
    assert server.name == "GET /metrics"
