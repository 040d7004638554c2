"""Tests for perfprobe.views: the live report page and its JSON."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from django.test import Client, RequestFactory, override_settings

from perfprobe import PerformanceMonitor
from perfprobe.report.schema import validate_report
from perfprobe.views import can_view_report


def test_report_is_hidden_without_debug_or_staff(client: Client) -> None:
    """With DEBUG off, an anonymous client gets a 404 for both views."""
    assert client.get("/perfprobe/").status_code == 404
    assert client.get("/perfprobe/report.json").status_code == 404


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"])
def test_report_page_shows_recorded_operations(
    client: Client, fresh_monitor: PerformanceMonitor
) -> None:
    """From an internal IP with DEBUG on, the page lists what was measured."""
    with fresh_monitor.measure_execution_time("nightly <import>"):
        pass
    response = client.get("/perfprobe/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "nightly &lt;import&gt;" in body
    assert "no-cache" in response["Cache-Control"]


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"])
def test_report_json_validates_against_the_schema(
    client: Client, fresh_monitor: PerformanceMonitor
) -> None:
    """The JSON view returns a report that the shipped schema accepts."""
    with fresh_monitor.measure_execution_time("checkout"):
        pass
    data = client.get("/perfprobe/report.json").json()
    validate_report(data)
    assert [op["name"] for op in data["operations"]] == ["checkout"]


@override_settings(DEBUG=True, INTERNAL_IPS=["10.9.9.9"])
def test_debug_alone_is_not_enough(client: Client) -> None:
    """DEBUG on but a caller outside INTERNAL_IPS still gets a 404."""
    assert client.get("/perfprobe/").status_code == 404


@pytest.mark.parametrize(
    ("is_staff", "is_active", "allowed"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_staff_users_may_view_without_debug(
    is_staff: bool, is_active: bool, allowed: bool
) -> None:
    """An active staff user may view the report even with DEBUG off."""
    request = RequestFactory().get("/perfprobe/", REMOTE_ADDR="10.1.2.3")
    request.user = SimpleNamespace(  # type: ignore[assignment]
        is_staff=is_staff, is_active=is_active
    )
    assert can_view_report(request) is allowed


@override_settings(DEBUG=True, INTERNAL_IPS=["127.0.0.1"])
def test_a_broken_report_is_a_plain_500_logged_once(
    client: Client,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three reads of a report that cannot be built: three 500s, one ERROR log."""

    def broken(**options: object) -> None:
        raise RuntimeError("report bug")

    monkeypatch.setattr(fresh_monitor, "generate_report", broken)
    with caplog.at_level(logging.ERROR, logger="perfprobe.report"):
        statuses = [client.get(path).status_code for path in ("/perfprobe/",) * 2]
        statuses.append(client.get("/perfprobe/report.json").status_code)

    assert statuses == [500, 500, 500]
    (record,) = [r for r in caplog.records if r.name == "perfprobe.report"]
    assert record.getMessage().startswith("perfprobe failed to build the live report")
