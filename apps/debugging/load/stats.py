"""Summarise request samples: counts, error rate, throughput and percentiles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from perfprobe.stats import inclusive_percentile

#: The name of the row that adds up every endpoint.
ALL_ENDPOINTS = "all"


@dataclass(frozen=True, slots=True)
class RequestSample:
    """One request as one side saw it; ``status`` is ``None`` without a response."""

    endpoint: str
    status: int | None
    duration_s: float
    #: What went wrong when there was no response (``TimeoutError: ...``).
    error: str | None = None

    @property
    def failed(self) -> bool:
        """Return True for no response or a status of 400 or more."""
        return self.status is None or self.status >= 400


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles and extremes of a list of durations, in seconds."""

    count: int
    mean_s: float
    min_s: float
    max_s: float
    p50_s: float
    p95_s: float
    p99_s: float


def summarize_latencies(durations_s: Sequence[float]) -> LatencySummary | None:
    """Return the summary of ``durations_s``, or ``None`` when it is empty.

    Percentiles interpolate linearly between the closest ranks, as the
    report's own do (numpy's ``"linear"``).
    """
    if not durations_s:
        return None
    ordered = sorted(durations_s)
    p50, p95, p99 = (inclusive_percentile(ordered, q) for q in (0.50, 0.95, 0.99))
    return LatencySummary(
        count=len(ordered),
        mean_s=sum(ordered) / len(ordered),
        min_s=ordered[0],
        max_s=ordered[-1],
        p50_s=p50,
        p95_s=p95,
        p99_s=p99,
    )


def summarize_group(
    samples: Sequence[RequestSample], window_s: float
) -> dict[str, Any]:
    """Return JSON-ready figures for ``samples``; throughput over ``window_s``.

    Every request counts towards the percentiles, failed ones included,
    because a failure's time is time a user waited too.
    """
    errors = sum(sample.failed for sample in samples)
    statuses = Counter(
        "none" if sample.status is None else str(sample.status) for sample in samples
    )
    latency = summarize_latencies([sample.duration_s for sample in samples])
    figures: dict[str, Any] = {
        "count": len(samples),
        "errors": errors,
        "error_rate": errors / len(samples) if samples else 0.0,
        "throughput_rps": len(samples) / window_s if window_s > 0 else 0.0,
        "statuses": dict(sorted(statuses.items())),
    }
    for name in ("mean_s", "min_s", "max_s", "p50_s", "p95_s", "p99_s"):
        figures[name] = getattr(latency, name) if latency is not None else None
    return figures


def summarize_by_endpoint(
    samples: Iterable[RequestSample], window_s: float, endpoints: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Return figures per endpoint, then for ``ALL_ENDPOINTS`` together.

    ``endpoints`` are listed first, in that order, even with no sample, so
    that an endpoint one side never saw still shows up with a count of 0.
    """
    groups: dict[str, list[RequestSample]] = {name: [] for name in endpoints}
    everything: list[RequestSample] = []
    for sample in samples:
        groups.setdefault(sample.endpoint, []).append(sample)
        everything.append(sample)
    figures = {name: summarize_group(group, window_s) for name, group in groups.items()}
    figures[ALL_ENDPOINTS] = summarize_group(everything, window_s)
    return figures
