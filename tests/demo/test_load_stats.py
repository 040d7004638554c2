"""Tests for the load test's summaries: percentiles, error rate, throughput."""

from __future__ import annotations

import pytest

from apps.debugging.load.stats import (
    ALL_ENDPOINTS,
    RequestSample,
    summarize_by_endpoint,
    summarize_group,
    summarize_latencies,
)


def test_percentiles_of_ten_known_values():
    """1..10 ms in shuffled order give the hand-computed linear percentiles."""
    # Ranks (n - 1) * q over the sorted values 1..10: p50 at 4.5 -> 5.5,
    # p95 at 8.55 -> 9 + 0.55 = 9.55, p99 at 8.91 -> 9 + 0.91 = 9.91.
    durations = [v / 1000 for v in (5, 1, 9, 3, 7, 2, 10, 4, 8, 6)]

    summary = summarize_latencies(durations)

    assert summary is not None
    assert summary.count == 10
    assert summary.p50_s == pytest.approx(0.0055)
    assert summary.p95_s == pytest.approx(0.00955)
    assert summary.p99_s == pytest.approx(0.00991)
    assert summary.mean_s == pytest.approx(0.0055)
    assert (summary.min_s, summary.max_s) == (0.001, 0.010)


def test_percentiles_of_two_values_interpolate_between_them():
    """With 0.1 s and 0.4 s, p95 lies 95% of the way from one to the other."""
    summary = summarize_latencies([0.4, 0.1])

    assert summary is not None
    assert summary.p50_s == pytest.approx(0.25)
    assert summary.p95_s == pytest.approx(0.385)
    assert summary.p99_s == pytest.approx(0.397)


def test_one_value_is_every_percentile_and_none_is_no_summary():
    """A single sample is its own p50, p95 and p99; no samples, no summary."""
    summary = summarize_latencies([0.2])

    assert summary is not None
    assert summary.p50_s == summary.p95_s == summary.p99_s == 0.2
    assert summarize_latencies([]) is None


def test_group_counts_errors_statuses_and_throughput():
    """A 500, a 404 and a missing answer are errors; 5 requests in 2 s is 2.5/s."""
    samples = [
        RequestSample("GET /a/", 200, 0.1),
        RequestSample("GET /a/", 201, 0.1),
        RequestSample("GET /a/", 404, 0.1),
        RequestSample("GET /a/", 500, 0.1),
        RequestSample("GET /a/", None, 0.1, "TimeoutError: timed out"),
    ]

    figures = summarize_group(samples, window_s=2.0)

    assert figures["count"] == 5
    assert figures["errors"] == 3
    assert figures["error_rate"] == pytest.approx(0.6)
    assert figures["throughput_rps"] == pytest.approx(2.5)
    assert figures["statuses"] == {"200": 1, "201": 1, "404": 1, "500": 1, "none": 1}


def test_by_endpoint_lists_every_endpoint_and_adds_them_up():
    """An endpoint without samples still appears, with a count of 0 and no times."""
    samples = [
        RequestSample("GET /a/", 200, 0.1),
        RequestSample("GET /a/", 500, 0.3),
        RequestSample("POST /b/", 201, 0.2),
    ]

    figures = summarize_by_endpoint(samples, 1.0, ["GET /a/", "POST /b/", "PUT /c/"])

    assert list(figures) == ["GET /a/", "POST /b/", "PUT /c/", ALL_ENDPOINTS]
    assert figures["GET /a/"]["count"] == 2
    assert figures["GET /a/"]["errors"] == 1
    assert figures["GET /a/"]["p50_s"] == pytest.approx(0.2)
    assert figures["PUT /c/"]["count"] == 0
    assert figures["PUT /c/"]["p50_s"] is None
    assert figures["PUT /c/"]["error_rate"] == 0.0
    assert figures[ALL_ENDPOINTS]["count"] == 3
    assert figures[ALL_ENDPOINTS]["error_rate"] == pytest.approx(1 / 3)
    assert figures[ALL_ENDPOINTS]["max_s"] == pytest.approx(0.3)
