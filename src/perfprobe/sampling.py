"""Decide per request whether it is monitored: excluded paths, sample rate."""

from __future__ import annotations

import random

from .conf import PerfprobeSettings

#: Why a request was kept out of the data; the collector counts each.
EXCLUDED = "excluded"
NOT_SAMPLED = "not_sampled"
UNMONITORED_VIEW = "unmonitored_view"
SKIP_REASONS = (EXCLUDED, NOT_SAMPLED, UNMONITORED_VIEW)


class RequestSampler:
    """Pick the requests to monitor with the probability ``SAMPLE_RATE``.

    Each request is decided on its own, by this sampler's own
    ``random.Random``: give it a seeded one to make decisions repeatable,
    without touching the global random state. ``Random.random`` holds the
    GIL for the whole call, so one sampler serves every thread.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random()

    def skip_reason(self, path_info: str, conf: PerfprobeSettings) -> str | None:
        """Return why a request to ``path_info`` is not monitored, or ``None``.

        A path under one of ``EXCLUDE_PATHS`` is never monitored and uses no
        random draw; the others are monitored with probability
        ``SAMPLE_RATE``.
        """
        if conf.EXCLUDE_PATHS and path_info.startswith(conf.EXCLUDE_PATHS):
            return EXCLUDED
        rate = conf.SAMPLE_RATE
        if rate >= 1.0:
            return None
        if rate <= 0.0 or self._rng.random() >= rate:
            return NOT_SAMPLED
        return None


#: The sampler the request middleware uses; tests replace it with a seeded one.
sampler = RequestSampler()
