"""Tests for perfprobe.listeners: fan-out that never fails the recorder."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from perfprobe.listeners import ListenerList


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_concurrent_adds_are_all_kept(fast_switching: None) -> None:
    """Eight threads adding 1,000 listeners each end with all 8,000 in the list."""
    listeners: ListenerList[int] = ListenerList("test")
    threads_n, per_thread = 8, 1_000
    start = threading.Barrier(threads_n)

    def add_many() -> None:
        start.wait()
        for _ in range(per_thread):
            listeners.add(lambda item: None)

    threads = [threading.Thread(target=add_many) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(listeners.items) == threads_n * per_thread


def test_remove_concurrent_with_adds_keeps_the_others(fast_switching: None) -> None:
    """Removing one listener while others are added loses none of the added."""
    listeners: ListenerList[int] = ListenerList("test")

    def doomed(item: int) -> None:
        return None

    added = 2_000
    start = threading.Barrier(2)

    def add_many() -> None:
        start.wait()
        for _ in range(added):
            listeners.add(lambda item: None)

    def add_and_remove() -> None:
        start.wait()
        for _ in range(added):
            listeners.add(doomed)
            listeners.remove(doomed)

    threads = [
        threading.Thread(target=add_many),
        threading.Thread(target=add_and_remove),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert doomed not in listeners.items
    assert len(listeners.items) == added


def test_a_failing_listener_does_not_stop_the_next() -> None:
    """notify() logs a listener's exception and still calls the one after it."""
    seen: list[int] = []
    listeners: ListenerList[int] = ListenerList("test")

    def broken(item: int) -> None:
        raise RuntimeError("listener bug")

    listeners.add(broken)
    listeners.add(seen.append)
    listeners.notify(7)
    assert seen == [7]
