"""No secret a client sends reaches any export of perfprobe with default settings.

One secret goes in as an SQL parameter, a cookie, an ``Authorization`` header,
a query-string value, a request body and a literal in hand-written SQL; then
every way data leaves the process is read back: the JSON report (as written
and as served), the HTML page with its charts (as written and as served),
the terminal report, the comparison of two reports, the Prometheus
exposition, OpenTelemetry spans and every log record perfprobe writes. A
control run with the opt-in settings on proves that the search can find the
secret when it is there. The pytest plugin's session report and the load
test's report are read the same way, from runs of their own.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from pytest_django import Settings
from rich.console import Console

from apps.shop.models import Customer
from apps.shop.sample_data import ensure_sample_data
from perfprobe import PerformanceMonitor
from perfprobe.prometheus import runtime
from perfprobe.report.terminal import TerminalRenderer
from tests.perfprobe.pytester_project import TIMEOUT_S, django_project

pytestmark = pytest.mark.django_db

SECRET = "Zq7secretXk4"
REPORT_TOKEN = "report-token-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture(autouse=True)
def exporter_detached_after() -> Iterator[None]:
    """Stop the exporter that ``configure`` starts listening, after the test."""
    yield
    runtime.uninstall()


def configure(settings: Settings, **extra: object) -> None:
    """Turn every exporter on, leaving the personal-data settings as given."""
    settings.PERFPROBE = {
        "PROMETHEUS": True,
        "REPORT_TOKEN": REPORT_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
        # Every query is "slow", so the WARNING path with its extras runs too.
        "SLOW_QUERY_SECONDS": 1e-9,
        **extra,
    }
    runtime.install()


def send_secrets(client: Client) -> None:
    """Send the secret in every place a client can put it."""
    client.cookies["sessionid"] = SECRET
    client.cookies["csrftoken"] = SECRET
    auth = {"HTTP_AUTHORIZATION": f"Bearer {SECRET}", "HTTP_X_API_KEY": SECRET}

    # The category filter makes the secret an SQL parameter; it is also a
    # query-string value.
    response = client.get(f"/api/products/?category={SECRET}&q={SECRET}", **auth)
    assert response.status_code == 200
    assert response.json()["count"] == 0
    response = client.post(
        f"/api/orders/?note={SECRET}",
        data=json.dumps({"items": [{"product_id": SECRET, "quantity": 1}]}),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 400
    # An unmatched path carrying the secret in its query string.
    assert client.get(f"/nowhere/?token={SECRET}", **auth).status_code == 404


def hand_written_sql(monitor: PerformanceMonitor) -> None:
    """Run SQL with the secret as a literal, inside a monitored block."""
    with (
        monitor.measure_execution_time("lookup", tags={"kind": "raw"}),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"SELECT COUNT(*) FROM shop_product WHERE sku = '{SECRET}'")


def exports(
    client: Client, monitor: PerformanceMonitor, tmp_path: Path
) -> dict[str, str]:
    """Return the text of every export, by name."""
    report = monitor.generate_report(title="personal data")
    report.write_json(tmp_path / "report.json")
    report.write_html(tmp_path / "report.html", charts=True)
    terminal = io.StringIO()
    TerminalRenderer(Console(file=terminal, width=200)).render(report)
    comparison = io.StringIO()
    json_file = str(tmp_path / "report.json")
    call_command("perfprobe_compare", json_file, json_file, stdout=comparison)

    served_page = client.get("/perfprobe/", HTTP_AUTHORIZATION=f"Bearer {REPORT_TOKEN}")
    served_json = client.get(
        "/perfprobe/report.json", HTTP_AUTHORIZATION=f"Bearer {REPORT_TOKEN}"
    )
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    for response in (served_page, served_json, metrics):
        assert response.status_code == 200
    return {
        "json file": (tmp_path / "report.json").read_text("utf-8"),
        "html file": (tmp_path / "report.html").read_text("utf-8"),
        "terminal": terminal.getvalue(),
        "comparison": comparison.getvalue(),
        "live page": served_page.content.decode(),
        "live json": served_json.content.decode(),
        "prometheus": metrics.content.decode(),
    }


def span_text(exporter: InMemorySpanExporter) -> str:
    """Return every name, attribute, event and status of every span, as text."""
    finished: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    assert finished, "tracing produced no spans; the check below would be empty"
    parts: list[str] = []
    for span in finished:
        parts.append(span.name)
        parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        parts.extend(str(event.attributes) for event in span.events)
        parts.append(str(span.status.description))
    return "\n".join(parts)


def log_text(records: list[logging.LogRecord]) -> str:
    """Return each perfprobe record's message, arguments and extra fields."""
    mine = [r for r in records if r.name.startswith("perfprobe")]
    assert mine, "perfprobe logged nothing; the check below would be empty"
    return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in mine)


def test_no_secret_reaches_any_export_by_default(
    client: Client,
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    span_exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """With default privacy settings the secret is in no export, span or log."""
    ensure_sample_data()
    configure(settings)

    with caplog.at_level(logging.DEBUG, logger="perfprobe"):
        send_secrets(client)
        hand_written_sql(fresh_monitor)
        outputs = exports(client, fresh_monitor, tmp_path)
    outputs["spans"] = span_text(span_exporter)
    outputs["logs"] = log_text(caplog.records)

    # The exports are not empty: the requests were recorded.
    assert '"/api/products/"' in outputs["json file"]
    assert 'route="/api/products/"' in outputs["prometheus"]
    leaks = [name for name, text in outputs.items() if SECRET in text]
    assert leaks == []


def test_the_opt_in_settings_do_show_the_secret(
    client: Client,
    settings: Settings,
    fresh_monitor: PerformanceMonitor,
    span_exporter: InMemorySpanExporter,
    tmp_path: Path,
) -> None:
    """Control: with the opt-ins on, the same search finds the secret in the JSON.

    This proves the search above can fail, and names the settings that
    change what is kept.
    """
    ensure_sample_data()
    configure(settings, STORE_SQL_PARAMETERS=True, STORE_QUERY_STRINGS=True)

    send_secrets(client)
    hand_written_sql(fresh_monitor)
    outputs = exports(client, fresh_monitor, tmp_path)

    assert SECRET in outputs["json file"]
    assert SECRET in span_text(span_exporter)


# -- the pytest plugin's session report ------------------------------------------

pytest_plugins = ["pytester"]

SECRET_TESTS = f"""\
import pytest
from django.db import connection

from apps.shop.models import Product

pytestmark = pytest.mark.django_db
SECRET = {SECRET!r}


def test_secret_as_parameter_and_literal(perfprobe):
    list(Product.objects.filter(sku=SECRET))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM shop_product WHERE sku = '{{SECRET}}'")


def test_budget_failure_shows_no_secret(perfprobe):
    with perfprobe.assert_max_queries(1):
        for _ in range(3):
            list(Product.objects.filter(name=SECRET))
"""


def test_no_secret_reaches_the_pytest_session_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's report file and its failure messages hold no SQL parameter."""
    django_project(pytester, monkeypatch)
    pytester.makepyfile(test_secrets=SECRET_TESTS)
    target = pytester.path / "session.json"
    result = pytester.runpytest_subprocess(
        "--perfprobe-report", str(target), timeout=TIMEOUT_S
    )
    result.assert_outcomes(passed=1, failed=1)
    report = target.read_text(encoding="utf-8")
    assert "shop_product" in report
    assert "3 x SELECT" in result.stdout.str()
    assert SECRET not in report
    # The traceback shows the test's own source, which names SECRET; the
    # plugin's message must add no value of it.
    message = [line for line in result.stdout.lines if "perfprobe" in line.lower()]
    assert message and not any(SECRET in line for line in message)


# -- the load test's report ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_customer_data_reaches_the_load_tests_report(tmp_path: Path) -> None:
    """The load test reads customers over HTTP; their names and emails stay out."""
    target = tmp_path / "report.json"
    output = io.StringIO()
    call_command(
        "run_performance_demo",
        "--time-scale",
        "0.01",
        "--clients",
        "2",
        "--requests",
        "40",
        "--output-file",
        str(target),
        stdout=output,
    )
    people = [value for c in Customer.objects.all() for value in (c.name, c.email)]
    assert people, "no customers: the check below would be empty"
    text = target.read_text(encoding="utf-8")
    report = json.loads(text)
    assert report["scenarios"][0]["name"] == "load"
    assert report["scenarios"][0]["details"]["client_side"]
    leaks = [v for v in people if v in text or v in output.getvalue()]
    assert leaks == []
