"""Hold and check the load test's settings: clients, requests and time limit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CLIENTS = 4
DEFAULT_REQUESTS = 100
DEFAULT_TIME_LIMIT_S = 300.0
# One thread per client on each side of a two-core loopback: past 64 the
# figures measure thread scheduling, not the application.
MAX_CLIENTS = 64
# Every sample is kept, on both sides, for exact percentiles: 100,000
# requests take about 20 MB.
MAX_REQUESTS = 100_000
MAX_TIME_LIMIT_S = 3600.0


@dataclass(frozen=True)
class LoadConfig:
    """How many clients send how many requests, within how many seconds.

    Raise ``ValueError`` naming the setting when a value is out of range.
    """

    clients: int = DEFAULT_CLIENTS
    requests: int = DEFAULT_REQUESTS
    time_limit_s: float = DEFAULT_TIME_LIMIT_S

    def __post_init__(self) -> None:
        for name, value, limit in (
            ("clients", self.clients, MAX_CLIENTS),
            ("requests", self.requests, MAX_REQUESTS),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, not {value!r}")
            if not 1 <= value <= limit:
                raise ValueError(f"{name} must be from 1 to {limit:,}, not {value!r}")
        limit_s = self.time_limit_s
        if not (
            isinstance(limit_s, int | float)
            and math.isfinite(limit_s)
            and 0 < limit_s <= MAX_TIME_LIMIT_S
        ):
            raise ValueError(
                f"time_limit_s must be above 0 and at most {MAX_TIME_LIMIT_S:g}, "
                f"not {limit_s!r}"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LoadConfig:
        """Build the config from a scenario's options; unknown keys raise."""
        unknown = sorted(set(options) - {"clients", "requests", "time_limit_s"})
        if unknown:
            raise ValueError(f"unknown load option(s): {', '.join(unknown)}")
        return cls(**options)

    def to_options(self) -> dict[str, Any]:
        """Return the config as scenario options, the inverse of ``from_options``."""
        return {
            "clients": self.clients,
            "requests": self.requests,
            "time_limit_s": self.time_limit_s,
        }
