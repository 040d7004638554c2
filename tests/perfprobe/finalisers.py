"""Garbage whose finaliser runs a query, collected where a test chooses."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from apps.shop.models import Customer
from perfprobe.stats import MetricStats


class SelfReferencing:
    """Hold a generator started up to its first ``yield``, in a reference cycle."""

    def __init__(self, generator: Iterator[None]) -> None:
        next(generator)
        self.generator = generator
        self.me = self


def _rows() -> Iterator[None]:
    try:
        yield
    finally:
        Customer.objects.count()


def leave_querying_garbage() -> None:
    """Leave a cycle whose collection runs one query (in the collecting thread)."""
    SelfReferencing(_rows())


@contextmanager
def gc_paused() -> Iterator[None]:
    """Turn automatic garbage collection off, so the test decides when it runs."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_in_first_add_many(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[], bool] = lambda: True
) -> list[bool]:
    """Collect garbage once, inside the first ``MetricStats.add_many`` ``when`` allows.

    Returns a list that is emptied once the collection has run.
    """
    original = MetricStats.add_many
    pending = [True]

    def add_many(self: MetricStats, values: Any) -> None:
        if pending and when():
            pending.clear()
            gc.collect()
        original(self, values)

    monkeypatch.setattr(MetricStats, "add_many", add_many)
    return pending
