"""Tests for perfprobe.clock: wall-clock starts derived from counter readings."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.test import Client
from pytest_django import Settings

from perfprobe import PerformanceMonitor, clock
from perfprobe.events import QueryEvent, RequestEvent

#: Slack for two clock reads set against each other on a busy machine.
BOUND_S = 0.005


class FakeClocks:
    """A performance counter and a wall clock that move only when told."""

    def __init__(self, perf_ns: int, wall_s: float) -> None:
        self.perf_ns = perf_ns
        self.wall_s = wall_s

    def perf(self) -> int:
        return self.perf_ns

    def wall(self) -> float:
        return self.wall_s


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClocks:
    """Put fake clocks under perfprobe.clock, not yet anchored."""
    clocks = FakeClocks(5_000_000_000, 1_000.0)
    monkeypatch.setattr(clock, "_perf_counter_ns", clocks.perf)
    monkeypatch.setattr(clock, "_time", clocks.wall)
    monkeypatch.setattr(clock, "next_anchor_ns", 0)
    monkeypatch.setattr(clock, "wall_minus_perf_s", 0.0)
    return clocks


@pytest.fixture
def reanchored() -> Iterator[None]:
    """Make the next reading anchor again, before and after the test."""
    clock.next_anchor_ns = 0
    yield
    clock.next_anchor_ns = 0


def test_a_reading_is_placed_on_the_wall_clock_of_its_anchor(
    fake: FakeClocks,
) -> None:
    """Anchored at counter 5 s = wall 1000 s: counter 5.5 s is wall 1000.5 s."""
    assert clock.wall_s(5_000_000_000) == 1_000.0
    assert clock.wall_s(5_500_000_000) == 1_000.5
    assert clock.next_anchor_ns == 5_000_000_000 + clock.ANCHOR_INTERVAL_NS


def test_a_wall_clock_step_shows_once_the_anchor_interval_has_passed(
    fake: FakeClocks,
) -> None:
    """A 60 s step is not seen 0.9 s after the anchor, and is from 1 s on."""
    clock.wall_s(5_000_000_000)
    fake.perf_ns, fake.wall_s = 5_900_000_000, 1_060.9  # the step, unseen yet

    assert clock.wall_s(5_900_000_000) == 1_000.9
    fake.perf_ns, fake.wall_s = 6_000_000_000, 1_061.0
    assert clock.wall_s(6_000_000_000) == 1_061.0
    assert clock.wall_s(6_250_000_000) == 1_061.25


def test_a_reading_is_within_a_few_milliseconds_of_time_time(
    reanchored: None,
) -> None:
    """Against the wall clock read around it, anchored long before or just now."""
    for _ in range(2):
        before_s = time.time()
        reading_s = clock.wall_s(time.perf_counter_ns())
        after_s = time.time()
        assert before_s - BOUND_S <= reading_s <= after_s + BOUND_S


@pytest.mark.django_db
def test_request_and_query_starts_are_on_the_wall_clock(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    settings: Settings,
    reanchored: None,
) -> None:
    """The request, its scope and its three queries start inside the request."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    client.get("/three/")  # anchored, and the connection opened, before
    fresh_monitor.reset()

    before_s = time.time()
    client.get("/three/")
    after_s = time.time()

    snapshot = fresh_monitor.collector.snapshot()
    requests = [e for e in snapshot.recent_events if isinstance(e, RequestEvent)]
    queries = [e for e in snapshot.recent_events if isinstance(e, QueryEvent)]
    starts = [e.started_at for e in requests + queries]
    starts += [s.started_at for s in snapshot.scopes]
    assert (len(requests), len(queries), len(snapshot.scopes)) == (1, 3, 1)
    assert all(before_s - BOUND_S <= start <= after_s + BOUND_S for start in starts)
    assert requests[0].started_at <= min(e.started_at for e in queries)


@pytest.mark.django_db
def test_a_request_after_a_wall_clock_step_starts_on_the_new_time(
    fresh_monitor: PerformanceMonitor,
    client: Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    reanchored: None,
) -> None:
    """The wall clock stepped an hour ahead: once re-anchored, requests follow."""
    settings.ROOT_URLCONF = "tests.perfprobe.middleware_urls"
    client.get("/three/")
    real_time = time.time
    monkeypatch.setattr(clock, "_time", lambda: real_time() + 3_600.0)
    clock.next_anchor_ns = 0  # the anchor interval has passed
    fresh_monitor.reset()

    before_s = real_time() + 3_600.0
    client.get("/three/")
    after_s = real_time() + 3_600.0

    snapshot = fresh_monitor.collector.snapshot()
    starts = [e.started_at for e in snapshot.recent_events]
    assert len(starts) == 4
    assert all(before_s - BOUND_S <= start <= after_s + BOUND_S for start in starts)
