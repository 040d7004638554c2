"""Tests for the load scenario and the command's load options, over real HTTP."""

from __future__ import annotations

import _thread
import json
import socket
import statistics
import threading
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from apps.debugging.client import request_json
from apps.debugging.load import runner
from apps.debugging.load.cli import choose_scenarios, parse_load_options
from apps.debugging.load.config import LoadConfig
from apps.debugging.performance_demo import PerformanceDemo
from perfprobe import monitor
from perfprobe.report.schema import validate_report
from tests.demo import flaky_urls
from tests.demo.cli import run_manage

COMMAND = "run_performance_demo"
FAST = ["--time-scale", "0.01"]
BUILT_IN = [
    "database_operations",
    "api_requests",
    "concurrent_operations",
    "memory_intensive",
    "error_scenarios",
]
ENDPOINTS = [
    "GET /api/products/",
    "POST /api/orders/",
    "GET /api/users/profile/",
    "PUT /api/inventory/update/",
    "GET /api/analytics/dashboard/",
]


def run_load_command(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    """Run the command with a JSON report; return its output and the report."""
    target = tmp_path / "report.json"
    stdout = StringIO()
    call_command(COMMAND, *FAST, *args, "--output-file", str(target), stdout=stdout)
    return stdout.getvalue(), json.loads(target.read_text())


def endpoint_counts(report: dict[str, Any]) -> dict[str, int]:
    """Return the request count per endpoint in the report's endpoint table."""
    return {f"{e['method']} {e['route']}": e["count"] for e in report["endpoints"]}


# -- counts, both sides ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_both_sides_count_exactly_the_requests_sent(tmp_path):
    """20 requests from 3 clients: 20 measured by the clients, 20 recorded."""
    output, report = run_load_command(tmp_path, "--clients", "3", "--requests", "20")

    validate_report(report)
    (scenario,) = report["scenarios"]
    details = scenario["details"]
    assert scenario["name"] == "load"
    assert scenario["status"] == "ok"
    assert details["requests_sent"] == 20
    assert details["server_recorded"] == 20
    for side in ("client_side", "server_side"):
        assert details[side]["all"]["count"] == 20
        assert details[side]["all"]["errors"] == 0
        assert [details[side][e]["count"] for e in ENDPOINTS] == [4] * 5
    # The collector's own endpoint table, which the report is built from.
    assert endpoint_counts(report) == dict.fromkeys(ENDPOINTS, 4)
    assert "Load test" in output
    assert "the middleware recorded 20" in output


@pytest.mark.django_db(transaction=True)
def test_error_rate_counts_a_known_number_of_failures(tmp_path, settings):
    """3 injected 500s in 4 product-list requests: 75% there, 15% overall."""
    settings.ROOT_URLCONF = "tests.demo.flaky_urls"
    flaky_urls.fail_next(3)
    try:
        _, report = run_load_command(
            tmp_path, "--load", "--clients", "2", "--requests", "20"
        )
    finally:
        flaky_urls.fail_next(0)

    details = report["scenarios"][0]["details"]
    for side in ("client_side", "server_side"):
        products = details[side]["GET /api/products/"]
        assert products["count"] == 4
        assert products["errors"] == 3
        assert products["error_rate"] == pytest.approx(0.75)
        assert products["statuses"] == {"200": 1, "500": 3}
        assert details[side]["all"]["errors"] == 3
        assert details[side]["all"]["error_rate"] == pytest.approx(3 / 20)
        assert all(details[side][e]["errors"] == 0 for e in ENDPOINTS[1:])
    (products_row,) = [e for e in report["endpoints"] if e["route"] == "/api/products/"]
    assert products_row["errors"] == {"tests.demo.flaky_urls.InjectedFailure": 3}


@pytest.mark.django_db(transaction=True)
def test_client_percentiles_agree_with_the_raw_latencies(monkeypatch):
    """The summary's p50/p95/p99 equal the inclusive quantiles of the raw samples."""
    outcomes: list[runner.LoadOutcome] = []
    real_run_load = runner.run_load

    def keep(*args: Any, **kwargs: Any) -> runner.LoadOutcome:
        outcome = real_run_load(*args, **kwargs)
        outcomes.append(outcome)
        return outcome

    monkeypatch.setattr("apps.debugging.scenarios.load.run_load", keep)
    demo = PerformanceDemo(
        time_scale=0.01, scenario_options={"load": {"clients": 2, "requests": 15}}
    )

    report = demo.run(["load"])

    (outcome,) = outcomes
    details = report.scenarios[0].details
    for endpoint in ENDPOINTS:
        raw = [s.duration_s for s in outcome.samples if s.endpoint == endpoint]
        # statistics.quantiles' inclusive cut points 50, 95 and 99 of 100.
        cuts = statistics.quantiles(raw, n=100, method="inclusive")
        figures = details["client_side"][endpoint]
        assert figures["count"] == len(raw) == 3
        assert figures["p50_s"] == pytest.approx(cuts[49])
        assert figures["p95_s"] == pytest.approx(cuts[94])
        assert figures["p99_s"] == pytest.approx(cuts[98])
        assert figures["max_s"] == max(raw)


# -- the server is stopped however the run ends ---------------------------------


def _refused(base_url: str) -> bool:
    parts = urlsplit(base_url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_during_the_load_stops_the_server(monkeypatch, ctrl_c_raises):
    """Ctrl-C mid-run ends the demo; the port refuses connections afterwards."""
    seen: list[str] = []
    lock = threading.Lock()

    def interrupting(base_url: str, *args: Any) -> Any:
        with lock:
            seen.append(base_url)
            if len(seen) == 5:
                _thread.interrupt_main()
        return request_json(base_url, *args)

    monkeypatch.setattr(runner, "request_json", interrupting)
    demo = PerformanceDemo(
        time_scale=0.01, scenario_options={"load": {"clients": 2, "requests": 2_000}}
    )

    with pytest.raises(KeyboardInterrupt):
        demo.run(["load"])

    assert len(seen) < 2_000
    assert _refused(seen[0])
    assert not any(
        t.name == "perfprobe-demo-server" and t.is_alive()
        for t in threading.enumerate()
    )


# -- options --------------------------------------------------------------------


BAD_LOAD_OPTIONS = [
    (["--clients", "0"], ["--clients", "'0'", "1 to 64"]),
    (["--clients", "65"], ["--clients", "'65'", "1 to 64"]),
    (["--clients", "x"], ["--clients", "'x'"]),
    (["--clients", "2.5"], ["--clients", "'2.5'"]),
    (["--requests", "0"], ["--requests", "'0'", "1 to 100,000"]),
    (["--requests", "-3"], ["--requests", "'-3'"]),
    (["--requests", "100001"], ["--requests", "'100001'", "1 to 100,000"]),
    (["--load", "--requests", "lots"], ["--requests", "'lots'"]),
    (["--load-time-limit", "0"], ["--load-time-limit", "'0'", "above 0"]),
    (["--load-time-limit", "nan"], ["--load-time-limit", "'nan'"]),
    (["--load-time-limit", "3601"], ["--load-time-limit", "'3601'", "3600"]),
]


@pytest.mark.parametrize(
    ("args", "fragments"),
    BAD_LOAD_OPTIONS,
    ids=[" ".join(a) for a, _ in BAD_LOAD_OPTIONS],
)
def test_bad_load_option_is_refused_before_anything_runs(
    args, fragments, nothing_may_run
):
    """Each bad value is one CommandError line naming option, value and range."""
    with pytest.raises(CommandError) as caught:
        call_command(COMMAND, *args, stdout=StringIO())

    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    assert nothing_may_run == []
    assert monitor.collector.snapshot().recent_events == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, None),
        ({"load": True}, LoadConfig()),
        ({"clients": "8"}, LoadConfig(clients=8)),
        ({"requests": "7"}, LoadConfig(requests=7)),
        ({"load_time_limit": "2.5"}, LoadConfig(time_limit_s=2.5)),
    ],
)
def test_any_load_option_implies_load(options, expected):
    """--clients, --requests and --load-time-limit each turn the load test on."""
    assert parse_load_options(options) == expected


@pytest.mark.parametrize(
    ("selected", "load", "expected"),
    [
        (None, None, BUILT_IN),
        (None, LoadConfig(), ["load"]),
        (["api_requests"], None, ["api_requests"]),
        (["api_requests"], LoadConfig(), ["api_requests", "load"]),
        (["load", "api_requests"], LoadConfig(), ["load", "api_requests"]),
        (["load"], None, ["load"]),
    ],
)
def test_load_runs_alone_or_after_the_named_scenarios(selected, load, expected):
    """--load alone runs only the load test; with --scenarios it comes last."""
    assert choose_scenarios(selected, BUILT_IN, load) == expected


def test_load_is_registered_but_not_run_by_default():
    """`load` can be named, yet a run without a selection keeps to the five."""
    assert "load" in PerformanceDemo.available_scenarios()
    assert PerformanceDemo.default_scenarios() == BUILT_IN


def test_unknown_load_option_from_python_is_refused():
    """A misspelt option in scenario_options fails the scenario, naming the key."""
    with pytest.raises(ValueError, match="clinets"):
        LoadConfig.from_options({"clinets": 3})


def test_cli_lists_the_load_options_and_refuses_a_bad_one_in_one_line(tmp_path):
    """From manage.py: help names each load option; --clients 0 is one line."""
    helped = run_manage(tmp_path, "help", COMMAND)
    refused = run_manage(tmp_path, COMMAND, "--clients", "0")

    assert helped.returncode == 0
    for option in ("--load", "--clients", "--requests", "--load-time-limit"):
        assert option in helped.stdout
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "--clients" in line and "'0'" in line
