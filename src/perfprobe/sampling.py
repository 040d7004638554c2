"""Decide per request whether it is monitored: switches, excluded paths, sample rate."""

from __future__ import annotations

import logging
import random

from django.http import HttpRequest

from .access import UNMONITORED_ATTR
from .conf import PerfprobeSettings, get_settings
from .failures import log_failure

# The request middleware's logger: these decisions are made for it.
logger = logging.getLogger("perfprobe.request")

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


#: What ``request_skip_reason`` returns when request monitoring is off.
OFF = "off"


def request_skip_reason(request: HttpRequest) -> str | None:
    """Return ``OFF``, a skip reason above, or ``None`` to monitor ``request``."""
    # A settings change that breaks PERFPROBE must not fail every request:
    # the request is then served unmonitored, and the failure logged.
    try:
        conf = get_settings()
        if not (conf.ENABLED and conf.MONITOR_REQUESTS):
            return OFF
        return sampler.skip_reason(request.path_info, conf)
    except Exception:
        log_failure(logger, "settings", "perfprobe cannot read its settings")
        return OFF


def left_out_because(request: HttpRequest, reason: str) -> str:
    """Return ``reason``, or ``UNMONITORED_VIEW`` if an unmonitored view served it.

    Counted once the view is known, so that reading the report while
    sampling does not show up as requests "not sampled".
    """
    if reason != NOT_SAMPLED:
        return reason
    view = getattr(getattr(request, "resolver_match", None), "func", None)
    if getattr(view, UNMONITORED_ATTR, False):
        return UNMONITORED_VIEW
    return reason


def monitors_every_request(conf: PerfprobeSettings) -> bool:
    """Return whether ``conf`` has every request monitored, without a draw."""
    return (
        conf.ENABLED
        and conf.MONITOR_REQUESTS
        and not conf.EXCLUDE_PATHS
        and conf.SAMPLE_RATE >= 1.0
    )
