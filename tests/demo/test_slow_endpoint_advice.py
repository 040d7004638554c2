"""Test which api_requests routes the demo's slow-endpoint advice names.

The ground truth is the injected latencies (the issue's documented server
times) against the documented 1 s slow-operation limit, both times the scale.
A route over the limit stays over it however busy the machine: load only adds
time. A route under it is only safe while the work around its sleep, on a
loaded machine, stays below the gap; so the scale here is 1.0, where that gap
is at least ``LOAD_MARGIN_S`` for every route the test calls fast.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from apps.debugging.performance_demo import PerformanceDemo
from perfprobe import monitor

SCALE = 1.0
# The documented default: an operation (and a route) is slow over 1 s at 1.0.
SLOW_LIMIT_S = 1.0
# What a route's own work, Django's first-request set-up (the URLconf import,
# about 40 ms on an idle machine) and a busy machine's scheduling may add to
# an injected latency before a fast route would be taken for a slow one.
LOAD_MARGIN_S = 0.75
# The documented server times at scale 1.0, by route pattern.
NOMINAL_S = {
    ("GET", "/api/products/"): 0.2,
    ("POST", "/api/orders/"): 0.8,
    ("GET", "/api/users/profile/"): 0.1,
    ("PUT", "/api/inventory/update/"): 1.2,
    ("GET", "/api/analytics/dashboard/"): 2.0,
}
SLOW = {route for route, nominal_s in NOMINAL_S.items() if nominal_s > SLOW_LIMIT_S}
# Orders (0.8 s) is left out: 0.2 s under the limit is within what load adds.
FAST = {
    route
    for route, nominal_s in NOMINAL_S.items()
    if (SLOW_LIMIT_S - nominal_s) * SCALE >= LOAD_MARGIN_S
}


@pytest.fixture(scope="module")
def report(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    """Run api_requests once at ``SCALE`` and return its report data.

    The loopback server's thread opens its own connection, so the scenario
    needs committed data rather than a test transaction; the database is
    flushed straight after, as a transactional test would leave it.
    """
    with django_db_blocker.unblock():
        try:
            data = PerformanceDemo(time_scale=SCALE).run(["api_requests"]).to_dict()
        finally:
            monitor.reset()
            call_command("flush", interactive=False, verbosity=0)
    return data


def test_the_routes_checked_are_the_ones_documented() -> None:
    """Dashboard and inventory are over the limit; products and profile far under."""
    assert {
        ("GET", "/api/analytics/dashboard/"),
        ("PUT", "/api/inventory/update/"),
    } == SLOW
    assert {("GET", "/api/products/"), ("GET", "/api/users/profile/")} == FAST


# The mark makes pytest-django create the test database the fixture runs on:
# it sets up only the databases that a collected test is marked to use.
@pytest.mark.django_db
def test_api_requests_slow_endpoint_advice_names_only_slow_routes(
    report: dict[str, Any],
) -> None:
    """Dashboard (2.0 s) and inventory (1.2 s) are named once; products, profile not.

    Their latency is a sleep inside one query each, so the slow-query finding
    for that query names the route and no slow-endpoint finding repeats it.
    """
    advice = [r for r in report["recommendations"] if r["rule_id"] == "slow-endpoint"]
    named = [(r["evidence"]["method"], r["evidence"]["route"]) for r in advice]
    for rec in report["recommendations"]:
        if rec["rule_id"] == "slow-query":
            for endpoint in rec["evidence"]["endpoints"] or ():
                method, route = endpoint.split(" ", 1)
                named.append((method, route))

    assert report["settings"]["time_scale"] == SCALE
    assert set(named) >= SLOW
    assert not FAST & set(named)
    assert sorted(route for route in named if route in SLOW) == sorted(SLOW)
    for recommendation in advice:
        assert recommendation["evidence"]["threshold_s"] == pytest.approx(
            SLOW_LIMIT_S * SCALE
        )
