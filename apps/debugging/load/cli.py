"""Read the command's load options and print the load test's comparison table."""

from __future__ import annotations

import math
from typing import Any

from django.core.management.base import CommandError
from rich.console import Console

from perfprobe.report import Report
from perfprobe.report.fmt import format_ms
from perfprobe.report.tables import Section
from perfprobe.report.terminal import TerminalRenderer

from .config import (
    DEFAULT_CLIENTS,
    DEFAULT_REQUESTS,
    DEFAULT_TIME_LIMIT_S,
    MAX_CLIENTS,
    MAX_REQUESTS,
    MAX_TIME_LIMIT_S,
    LoadConfig,
)
from .stats import ALL_ENDPOINTS

#: The registered name of the load scenario.
LOAD_SCENARIO = "load"
SIDES = (("client_side", "client"), ("server_side", "server"))


def _parse_count(option: str, value: Any, default: int, limit: int) -> int:
    if value is None:
        return default
    message = (
        f"{option} must be a whole number from 1 to {limit:,}, not {str(value)!r}."
    )
    try:
        number = int(str(value))
    except ValueError:
        raise CommandError(message) from None
    if not 1 <= number <= limit:
        raise CommandError(message)
    return number


def _parse_time_limit(value: Any) -> float:
    if value is None:
        return DEFAULT_TIME_LIMIT_S
    message = (
        "--load-time-limit must be a number of seconds above 0 and at most "
        f"{MAX_TIME_LIMIT_S:g}, not {str(value)!r}."
    )
    try:
        seconds = float(str(value))
    except ValueError:
        raise CommandError(message) from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT_S):
        raise CommandError(message)
    return seconds


def parse_load_options(options: dict[str, Any]) -> LoadConfig | None:
    """Return the load test's config, or ``None`` when no load option was given.

    ``--clients``, ``--requests`` and ``--load-time-limit`` each imply
    ``--load``. Raise ``CommandError`` naming the option and the bad value.
    """
    values = (options.get("clients"), options.get("requests"))
    time_limit = options.get("load_time_limit")
    if not options.get("load") and all(v is None for v in (*values, time_limit)):
        return None
    return LoadConfig(
        clients=_parse_count("--clients", values[0], DEFAULT_CLIENTS, MAX_CLIENTS),
        requests=_parse_count("--requests", values[1], DEFAULT_REQUESTS, MAX_REQUESTS),
        time_limit_s=_parse_time_limit(time_limit),
    )


def choose_scenarios(
    selected: list[str] | None, defaults: list[str], load: LoadConfig | None
) -> list[str]:
    """Return the scenarios to run: the load test alone, or added at the end.

    ``selected`` is what ``--scenarios`` named (``None`` when not given).
    """
    if load is None:
        return list(defaults) if selected is None else list(selected)
    if selected is None:
        return [LOAD_SCENARIO]
    return list(selected) if LOAD_SCENARIO in selected else [*selected, LOAD_SCENARIO]


def load_section(details: dict[str, Any]) -> Section:
    """Return the client side and the server side of a load run as one table."""
    rows: list[tuple[str, ...]] = []
    client, server = details["client_side"], details["server_side"]
    endpoints = list(dict.fromkeys([*client, *server]))
    # The total last, under the endpoints it adds up.
    endpoints.remove(ALL_ENDPOINTS)
    endpoints.append(ALL_ENDPOINTS)
    for endpoint in endpoints:
        for key, side in SIDES:
            figures = details[key].get(endpoint)
            if figures is None:
                continue
            rows.append(
                (
                    endpoint if side == "client" else "",
                    side,
                    f"{figures['count']:,}",
                    f"{figures['errors']:,}",
                    f"{figures['error_rate']:.1%}",
                    f"{figures['throughput_rps']:.1f}",
                    format_ms(figures["p50_s"]),
                    format_ms(figures["p95_s"]),
                    format_ms(figures["p99_s"]),
                    format_ms(figures["max_s"]),
                )
            )
    notes = [
        f"{details['clients']} clients, {details['requests_sent']:,} of "
        f"{details['requests_planned']:,} requests sent in "
        f"{details['elapsed_s']:.2f} s; the middleware recorded "
        f"{details['server_recorded']:,}.",
        f"Client side: what the clients measured, connection included; server "
        f"side: what perfprobe's middleware recorded. {details['error_definition']}"
        ".",
    ]
    if details["stopped_early"]:
        notes.append(
            f"Stopped early: no request was started after the time limit of "
            f"{details['time_limit_s']:g} s."
        )
    return Section(
        title="Load test",
        subtitle="client side and server side",
        columns=(
            "Endpoint",
            "Side",
            "Count",
            "Errors",
            "Error rate",
            "Req/s",
            "p50",
            "p95",
            "p99",
            "Max",
        ),
        rows=tuple(rows),
        notes=tuple(notes),
    )


def load_sections(report: Report) -> list[Section]:
    """Return the comparison table of every load run in ``report``, in order."""
    return [
        load_section(scenario.details)
        for scenario in report.scenarios
        if scenario.name == LOAD_SCENARIO and "client_side" in scenario.details
    ]


def render_load_results(console: Console, report: Report) -> None:
    """Print the comparison table of every load run in ``report``."""
    renderer = TerminalRenderer(console)
    for section in load_sections(report):
        renderer.section(section)
