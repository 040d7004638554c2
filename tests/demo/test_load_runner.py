"""Tests for the load runner: exact counts, the mix, failures, limits, Ctrl-C."""

from __future__ import annotations

import _thread
import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from apps.debugging.client import HttpResult
from apps.debugging.load import runner
from apps.debugging.load.runner import LoadEndpoint, run_load
from apps.debugging.load.stats import summarize_by_endpoint

ENDPOINTS = [
    LoadEndpoint("GET", "/a/?x=1", "/a/"),
    LoadEndpoint("POST", "/b/", "/b/", {"n": 1}),
    LoadEndpoint("GET", "/c/<int:pk>/", "/c/<int:pk>/"),
]


class ScriptedServer:
    """Answer like ``request_json``: each path's latencies in turn, then 200."""

    def __init__(self, latencies: dict[str, list[float]] | None = None) -> None:
        self.latencies = {
            path: list(values) for path, values in (latencies or {}).items()
        }
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(
        self, base_url: str, method: str, path: str, payload: Any, timeout_s: float
    ) -> HttpResult:
        with self.lock:
            self.calls.append((method, path, payload))
            queue = self.latencies.get(path)
            duration_s = queue.pop(0) if queue else 0.001
        return HttpResult(method, path, 200, duration_s, None)


def load_threads() -> list[threading.Thread]:
    """Return the load client threads still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("perfprobe-load-")]


def test_every_request_is_sent_once_in_the_known_mix():
    """13 requests over 3 endpoints from 4 clients: 5, 4 and 4, each sent once."""
    server = ScriptedServer()

    outcome = run_load(
        "http://127.0.0.1:1",
        ENDPOINTS,
        clients=4,
        requests=13,
        time_limit_s=60,
        request_timeout_s=5,
        send=server,
    )

    assert len(outcome.samples) == 13
    assert len(server.calls) == 13
    assert Counter(s.endpoint for s in outcome.samples) == {
        "GET /a/": 5,
        "POST /b/": 4,
        "GET /c/<int:pk>/": 4,
    }
    assert Counter(path for _, path, _ in server.calls)["/a/?x=1"] == 5
    assert all(
        payload == {"n": 1} for _, path, payload in server.calls if path == "/b/"
    )
    assert not outcome.stopped_early
    assert load_threads() == []


def test_client_percentiles_match_hand_computed_values():
    """Scripted latencies per endpoint give the percentiles worked out by hand."""
    # /a/ answers in 10, 20, ..., 100 ms: p50 = 55 ms, p95 = 95.5 ms and
    # p99 = 99.1 ms by linear interpolation; /b/ in 40 and 80 ms: p50 = 60 ms.
    a_ms = [30, 10, 100, 50, 70, 20, 90, 40, 80, 60]
    server = ScriptedServer(
        {"/a/?x=1": [ms / 1000 for ms in a_ms], "/b/": [0.040, 0.080]}
    )
    # Twelve requests through five /a/ and one /b/: ten to /a/, two to /b/.
    mix = [ENDPOINTS[0]] * 5 + [ENDPOINTS[1]]

    outcome = run_load(
        "http://127.0.0.1:1",
        mix,
        clients=1,
        requests=12,
        time_limit_s=60,
        request_timeout_s=5,
        send=server,
    )
    figures = summarize_by_endpoint(outcome.samples, outcome.elapsed_s)

    a = figures["GET /a/"]
    assert a["count"] == 10
    assert a["p50_s"] == pytest.approx(0.055)
    assert a["p95_s"] == pytest.approx(0.0955)
    assert a["p99_s"] == pytest.approx(0.0991)
    assert (a["min_s"], a["max_s"]) == (0.010, 0.100)
    assert figures["POST /b/"]["p50_s"] == pytest.approx(0.060)


def test_a_request_without_answer_is_a_failed_sample_and_the_load_goes_on():
    """Refused connections are counted as errors; every planned request is tried."""

    def refuse(base_url: str, method: str, path: str, *rest: Any) -> HttpResult:
        if path == "/b/":
            raise ConnectionRefusedError(111, "Connection refused")
        return HttpResult(method, path, 200, 0.001, None)

    outcome = run_load(
        "http://127.0.0.1:1",
        ENDPOINTS,
        clients=2,
        requests=9,
        time_limit_s=60,
        request_timeout_s=5,
        send=refuse,
    )

    failed = [s for s in outcome.samples if s.failed]
    assert len(outcome.samples) == 9
    assert len(failed) == 3
    assert {s.endpoint for s in failed} == {"POST /b/"}
    assert all(s.status is None for s in failed)
    assert all(s.error and s.error.startswith("ConnectionRefusedError") for s in failed)


def test_no_request_starts_after_the_time_limit(monkeypatch):
    """With each request taking 1 s of a fake clock, a 3.5 s limit lets 4 start."""
    clock = SimpleNamespace(now=0.0)
    fake_time = SimpleNamespace(
        perf_counter=lambda: clock.now,
        perf_counter_ns=lambda: int(clock.now * 1e9),
    )
    monkeypatch.setattr(runner, "time", fake_time)

    def one_second(base_url: str, method: str, path: str, *rest: Any) -> HttpResult:
        clock.now += 1.0
        return HttpResult(method, path, 200, 1.0, None)

    outcome = run_load(
        "http://127.0.0.1:1",
        ENDPOINTS,
        clients=1,
        requests=100,
        time_limit_s=3.5,
        request_timeout_s=5,
        send=one_second,
    )

    assert len(outcome.samples) == 4
    assert outcome.stopped_early
    assert outcome.elapsed_s == 4.0


def test_ctrl_c_stops_the_clients_and_goes_on(ctrl_c_raises):
    """Ctrl-C during the run raises in the caller and no new request starts."""
    release = threading.Event()
    lock = threading.Lock()
    calls = 0

    def interrupting(base_url: str, method: str, path: str, *rest: Any) -> HttpResult:
        nonlocal calls
        with lock:
            calls += 1
            number = calls
        if number == 3:
            _thread.interrupt_main()
        if number >= 3:
            release.wait(2)
        return HttpResult(method, path, 200, 0.001, None)

    with pytest.raises(KeyboardInterrupt):
        run_load(
            "http://127.0.0.1:1",
            ENDPOINTS,
            clients=2,
            requests=10,
            time_limit_s=60,
            request_timeout_s=5,
            send=interrupting,
        )
    release.set()
    for thread in load_threads():
        thread.join(5)

    assert load_threads() == []
    # The two in flight when Ctrl-C came finish; nothing starts after them.
    assert calls <= 4


@pytest.mark.parametrize(("clients", "requests"), [(0, 1), (1, 0), (-1, 5)])
def test_nonsense_counts_are_refused(clients, requests):
    """Fewer than one client or one request is a ValueError, not an idle run."""
    with pytest.raises(ValueError, match="clients and requests"):
        run_load(
            "http://127.0.0.1:1",
            ENDPOINTS,
            clients=clients,
            requests=requests,
            time_limit_s=1,
            request_timeout_s=1,
            send=ScriptedServer(),
        )
