"""Odd values handed to the monitor, and exports that stay strict UTF-8 JSON.

Tags, labels, scope names, SQL parameters, SQL text and request paths take
non-ASCII text, lone surrogates, NUL, bytes, memoryview, lists, dicts,
Decimal, UUID, datetimes, None, NaN and infinities. Whatever the monitor
accepts must leave every export readable by a strict parser: JSON without
NaN or Infinity and without lone surrogates, HTML and terminal text that a
strict UTF-8 encoder writes, and the Prometheus exposition.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from pytest_django import Settings
from rich.console import Console

from demo_site import urls as demo_urls
from perfprobe import PerformanceMonitor
from perfprobe.events import QueryEvent
from perfprobe.prometheus import runtime
from perfprobe.report.terminal import TerminalRenderer

REPORT_TOKEN = "report-token-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"
LONE_SURROGATES = "\ud800 \udcff"

#: Every odd value a caller might hand over, by name.
ODD_VALUES: dict[str, Any] = {
    "non-ascii": "żółw ✓ 😀 \u202e",
    "lone surrogates": LONE_SURROGATES,
    "nul and escape": "a\x00b\x1b[31m",
    "bytes": b"\xff\xfe\x00",
    "memoryview": memoryview(b"\x80abc"),
    "list": [1, "two", None],
    "dict": {"k": [1.5]},
    "decimal": Decimal("12.340"),
    "decimal nan": Decimal("NaN"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "datetime": dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.UTC),
    "date": dt.date(2024, 2, 29),
    "none": None,
    "nan": math.nan,
    "infinity": math.inf,
    "minus infinity": -math.inf,
    "huge int": 10**400,
}


def refuse_constant(name: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON."""
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes | str) -> Any:
    """Parse ``raw`` as strict UTF-8 JSON and return it; no lone surrogates."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    data = json.loads(text, parse_constant=refuse_constant)
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            # A lone surrogate cannot be encoded: this raises if one is there.
            item.encode("utf-8")
        elif isinstance(item, float):
            assert math.isfinite(item)
    return data


def strict_text(raw: bytes) -> str:
    """Decode ``raw`` as UTF-8, refusing anything that is not (encoded surrogates)."""
    return raw.decode("utf-8")


def plant_odd_values(monitor: PerformanceMonitor) -> None:
    """Hand every odd value to the probes that take free-form values."""
    for name, value in ODD_VALUES.items():
        with monitor.measure_execution_time(f"odd tag {name}", tags={"v": value}):
            pass
    odd_keys: dict[Any, str] = {1: "int", None: "none", LONE_SURROGATES: "text"}
    with monitor.measure_execution_time("odd keys", tags=odd_keys):
        pass
    for text in ("non-ascii", "lone surrogates", "nul and escape"):
        name = ODD_VALUES[text]
        with monitor.measure_execution_time(name, tags={name: name}):
            pass
        with monitor.scope(name), monitor.track_memory_usage(name):
            monitor.track_memory_usage(name)


def run_odd_queries() -> list[str]:
    """Run one query per odd parameter; return the names the driver refused."""
    refused = []
    for name, value in ODD_VALUES.items():
        try:
            # A savepoint each: on PostgreSQL a refused value would otherwise
            # abort the transaction for every statement after it.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT %s", [value])
        except (DatabaseError, TypeError, ValueError, OverflowError):
            refused.append(name)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 AS "{ODD_VALUES["non-ascii"]}"')
        cursor.execute("SELECT %(a)s, %(b)s", {"a": "żółw", "b": b"\x00"})
        cursor.executemany(
            # The cast lets PostgreSQL compare a text column with any type.
            "UPDATE shop_product SET name = name WHERE sku = CAST(%s AS TEXT)",
            [[Decimal("1.5")], [None], [b"\xff"], ["żółw"]],
        )
    return refused


def all_exports(
    monitor: PerformanceMonitor, client: Client, tmp_path: Path
) -> dict[str, bytes]:
    """Return every export of ``monitor`` as the bytes a reader receives."""
    report = monitor.generate_report(title=f"odd {LONE_SURROGATES}")
    report.write_json(tmp_path / "report.json")
    report.write_html(tmp_path / "report.html", charts=True)
    terminal = io.BytesIO()
    stream = io.TextIOWrapper(terminal, encoding="utf-8", errors="strict")
    TerminalRenderer(Console(file=stream, width=160)).render(report)
    stream.flush()
    live_json = client.get(
        "/perfprobe/report.json", HTTP_AUTHORIZATION=f"Bearer {REPORT_TOKEN}"
    )
    live_page = client.get("/perfprobe/", HTTP_AUTHORIZATION=f"Bearer {REPORT_TOKEN}")
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    for response in (live_json, live_page, metrics):
        assert response.status_code == 200
    return {
        "to_dict": json.dumps(report.to_dict(), allow_nan=False).encode(),
        "json file": (tmp_path / "report.json").read_bytes(),
        "html file": (tmp_path / "report.html").read_bytes(),
        "terminal": terminal.getvalue(),
        "live json": live_json.content,
        "live page": live_page.content,
        "prometheus": metrics.content,
    }


@pytest.fixture
def exporters_on(settings: Settings) -> Any:
    """Open the live report and /metrics to the test's tokens."""
    settings.PERFPROBE = {
        "PROMETHEUS": True,
        "REPORT_TOKEN": REPORT_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    # This module's URLconf: the demo's, plus a route with non-ASCII text.
    settings.ROOT_URLCONF = __name__
    runtime.install()
    yield
    runtime.uninstall()


def echo_view(request: HttpRequest, name: str) -> HttpResponse:
    """Answer with the path's name, as a view of a non-ASCII route."""
    return HttpResponse(name, content_type="text/plain; charset=utf-8")


#: A route whose pattern itself holds non-ASCII text.
ODD_ROUTE = "/żółw/<str:name>/"
urlpatterns = [path(ODD_ROUTE.lstrip("/"), echo_view), *demo_urls.urlpatterns]


@pytest.mark.django_db
@pytest.mark.parametrize("store_parameters", [False, True])
def test_odd_values_leave_every_export_strict_utf8_json(
    store_parameters: bool,
    exporters_on: None,
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    client: Client,
    tmp_path: Path,
) -> None:
    """Odd tags, labels, parameters, SQL and paths: every export stays strict."""
    settings.PERFPROBE = {
        **settings.PERFPROBE,
        "STORE_SQL_PARAMETERS": store_parameters,
    }
    plant_odd_values(fresh_monitor)
    refused = run_odd_queries()
    # A path with non-ASCII text, one with bytes that are not UTF-8, and an
    # odd query string: unmatched, matched and with odd parameters.
    assert client.get("/żółw/%FF%FE/").status_code == 200
    assert client.get("/nowhere/żółw/%FF/").status_code == 404
    # The NUL makes it the client's mistake (PostgreSQL refuses NUL in text).
    assert client.get("/api/products/?category=%FF%00żółw").status_code == 400

    exports = all_exports(fresh_monitor, client, tmp_path)

    for name in ("to_dict", "json file", "live json"):
        data = strict_json(exports[name])
        assert data["summary"]["queries"] >= len(ODD_VALUES), name
    for name in ("html file", "live page", "terminal", "prometheus"):
        strict_text(exports[name])
    operations = strict_json(exports["json file"])["operations"]
    routes = {e["route"] for e in strict_json(exports["live json"])["endpoints"]}
    assert ODD_ROUTE in routes
    assert ODD_ROUTE in strict_text(exports["prometheus"])
    tags = {op["name"]: op["tags"] for op in operations}
    assert tags["odd tag decimal"] == {"v": ["12.340"]}
    assert tags["odd tag nan"] == {"v": ["nan"]}
    assert tags["odd tag bytes"] == {"v": ["b'\\xff\\xfe\\x00'"]}
    assert tags["odd tag lone surrogates"] == {"v": ["\\ud800 \\udcff"]}
    assert tags["odd keys"] == {
        "1": ["int"],
        "None": ["none"],
        "\\ud800 \\udcff": ["text"],
    }
    assert refused, "the driver refused none: the odd-type paths were not tried"


@pytest.mark.parametrize(
    "value",
    [b"label", 42, None, math.nan, ["a"], {"a": 1}, Decimal("1"), memoryview(b"x")],
    ids=lambda value: type(value).__name__,
)
def test_non_text_label_poisons_no_report(
    value: Any, fresh_monitor: PerformanceMonitor
) -> None:
    """A label or scope name that is not text is refused at the call, nowhere later.

    Kept, such a value broke every later report (``to_dict`` could not copy
    or write it), including the live one.
    """
    with pytest.raises(TypeError, match="needs a str label"):
        fresh_monitor.track_memory_usage(value)
    # At the call itself, not only once the block is entered.
    with pytest.raises(TypeError, match="needs a str name"):
        fresh_monitor.scope(value)
    with pytest.raises(TypeError, match="needs a str kind"):
        fresh_monitor.scope("job", kind=value)
    with pytest.raises(ValueError, match="needs a non-empty name"):
        fresh_monitor.measure_execution_time(value)
    # Kept, a title that is not text made a JSON file perfprobe_report refuses
    # ("at title: 42 is not of type 'string'").
    with pytest.raises(TypeError, match="needs a str title"):
        fresh_monitor.generate_report(title=value)

    strict_json(json.dumps(fresh_monitor.generate_report().to_dict()))


def test_an_empty_label_or_scope_name_is_refused_at_the_call(
    fresh_monitor: PerformanceMonitor,
) -> None:
    """Kept, an empty scope name made a finding read "16 queries in  (up to ...".

    An empty operation name was already refused; labels and scope names are
    shown in the same places.
    """
    with pytest.raises(ValueError, match=r"scope\(\) needs a non-empty name"):
        fresh_monitor.scope("")
    with pytest.raises(
        ValueError, match=r"track_memory_usage\(\) needs a non-empty label"
    ):
        fresh_monitor.track_memory_usage("")
    assert fresh_monitor.generate_report().to_dict()["scopes"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["list", "dict", "uuid", "huge int", "decimal nan"])
def test_odd_parameters_user_exception_is_unchanged(
    name: str,
    settings: Settings,
    recorded_queries: Callable[[], list[QueryEvent]],
) -> None:
    """A parameter the driver refuses fails as it does unmonitored, and is recorded."""

    def attempt() -> tuple[type[BaseException], str] | None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s", [ODD_VALUES[name]])
        except Exception as exc:
            return type(exc), str(exc)
        return None

    settings.PERFPROBE = {"ENABLED": False}
    unmonitored = attempt()
    settings.PERFPROBE = {}
    monitored = attempt()

    assert monitored == unmonitored
    last = recorded_queries()[-1]
    assert last.fingerprint == "SELECT ?"
    if monitored is not None:
        kind = monitored[0]
        assert last.error_type in {kind.__name__, f"{kind.__module__}.{kind.__name__}"}
