"""Tests for perfprobe.checks: misconfiguration reported as system checks."""

from __future__ import annotations

import pytest
from pytest_django import Settings

from perfprobe.checks import check_prometheus
from perfprobe.prometheus import runtime


def test_prometheus_without_its_client_is_a_warning(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROMETHEUS on without prometheus_client gives perfprobe.W002 naming the extra."""
    settings.PERFPROBE = {"PROMETHEUS": True}
    monkeypatch.setattr(runtime, "client_available", lambda: False)
    [message] = check_prometheus()
    assert message.id == "perfprobe.W002"
    assert "django-perfprobe[prometheus]" in (message.hint or "")


@pytest.mark.parametrize(("on", "available"), [(True, True), (False, False)])
def test_prometheus_check_is_quiet_otherwise(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, on: bool, available: bool
) -> None:
    """With the client installed, or the setting off, there is nothing to say."""
    settings.PERFPROBE = {"PROMETHEUS": on}
    monkeypatch.setattr(runtime, "client_available", lambda: available)
    assert check_prometheus() == []


def test_prometheus_check_leaves_bad_settings_to_the_settings_check(
    settings: Settings,
) -> None:
    """An invalid PERFPROBE is reported once, by perfprobe.E001, not here."""
    settings.PERFPROBE = {"PROMETHEUS": "yes"}
    assert check_prometheus() == []
