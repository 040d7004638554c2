"""Derive wall-clock times from ``perf_counter_ns`` readings already made.

A request (or query) reads ``time.perf_counter_ns()`` for its duration and
needs its wall-clock start as well: rather than a second clock read, the
start is the reading plus the wall clock's offset from the performance
counter, taken at an anchor. The anchor is taken again once
``ANCHOR_INTERVAL_NS`` have passed since the last, at the next reading, so
a step of the wall clock (an NTP correction, a suspend) shows in the start
times within that interval. Between steps the two clocks run together: on
Linux both follow NTP's slewing.
"""

from __future__ import annotations

import time

#: How long an anchor serves before the next reading takes a new one.
ANCHOR_INTERVAL_NS = 1_000_000_000

#: ``time.time()`` minus ``perf_counter_ns() / 1e9`` at the last anchor.
wall_minus_perf_s = 0.0
#: The ``perf_counter_ns()`` reading from which the anchor is taken again;
#: 0 until the first, so the first reading anchors.
next_anchor_ns = 0

_time = time.time
_perf_counter_ns = time.perf_counter_ns


def anchor() -> None:
    """Take the wall clock's offset from the performance counter now.

    The wall clock is read between two counter readings and set against
    their middle. Two threads anchoring at once each store an offset just
    taken: either is right.
    """
    global wall_minus_perf_s, next_anchor_ns
    before_ns = _perf_counter_ns()
    wall_s = _time()
    after_ns = _perf_counter_ns()
    wall_minus_perf_s = wall_s - (before_ns + after_ns) / 2e9
    next_anchor_ns = after_ns + ANCHOR_INTERVAL_NS


def wall_s(perf_ns: int) -> float:
    """Return the wall-clock time, in seconds, of the reading ``perf_ns``.

    The hot paths write this out (a global load and a comparison, no call):
    ``if perf_ns >= clock.next_anchor_ns: clock.anchor()``, then
    ``perf_ns / 1e9 + clock.wall_minus_perf_s``.
    """
    if perf_ns >= next_anchor_ns:
        anchor()
    return perf_ns / 1e9 + wall_minus_perf_s
