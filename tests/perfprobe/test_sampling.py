"""Tests for perfprobe.sampling: excluded paths and the per-request sample rate."""

from __future__ import annotations

import random

import pytest

from perfprobe.sampling import EXCLUDED, NOT_SAMPLED, RequestSampler

from .report_factories import make_settings


class NoDraws(random.Random):
    """A generator that fails the test if a decision draws a number."""

    def random(self) -> float:
        raise AssertionError("no random draw expected")


def test_an_excluded_prefix_is_never_monitored_and_draws_nothing() -> None:
    """Paths under EXCLUDE_PATHS are excluded without a draw; others are not."""
    conf = make_settings(EXCLUDE_PATHS=("/health/", "/static/"), SAMPLE_RATE=1.0)
    sampler = RequestSampler(NoDraws())

    assert sampler.skip_reason("/health/", conf) == EXCLUDED
    assert sampler.skip_reason("/static/app.css", conf) == EXCLUDED
    assert sampler.skip_reason("/healthz", conf) is None
    assert sampler.skip_reason("/api/", conf) is None


@pytest.mark.parametrize(("rate", "expected"), [(1.0, None), (0.0, NOT_SAMPLED)])
def test_rates_one_and_zero_need_no_draw(rate: float, expected: str | None) -> None:
    """Rate 1 monitors and rate 0 skips every request without a random draw."""
    sampler = RequestSampler(NoDraws())
    conf = make_settings(SAMPLE_RATE=rate)
    assert {sampler.skip_reason("/x/", conf) for _ in range(100)} == {expected}


def test_a_quarter_of_requests_is_sampled_at_rate_one_quarter() -> None:
    """20,000 decisions at rate 0.25 keep 5,000 within 5 standard deviations."""
    sampler = RequestSampler(random.Random(2024))
    conf = make_settings(SAMPLE_RATE=0.25)

    kept = sum(sampler.skip_reason("/x/", conf) is None for _ in range(20_000))

    # Binomial(20000, 0.25): mean 5000, standard deviation about 61.
    assert 5000 - 5 * 61 < kept < 5000 + 5 * 61


def test_the_global_random_state_is_left_alone() -> None:
    """Sampling draws from its own generator, not from the random module's."""
    random.seed(99)
    expected = random.random()
    random.seed(99)
    sampler = RequestSampler()
    conf = make_settings(SAMPLE_RATE=0.5)
    for _ in range(50):
        sampler.skip_reason("/x/", conf)
    assert random.random() == expected
