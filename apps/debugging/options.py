"""Read and check the demo command's options before anything runs."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from perfprobe.compare import LoadedReport
from perfprobe.compare import cli as compare_cli
from perfprobe.management.base import pick_html_option

from .load.cli import LOAD_SCENARIO, choose_scenarios, parse_load_options
from .load.config import LoadConfig
from .output_paths import check_charts_available, check_output_path
from .performance_demo import (
    MAX_TIME_SCALE,
    MIN_TIME_SCALE,
    DemoSetupError,
    PerformanceDemo,
)
from .repeat import parse_repeat

# Every scenario must be able to use any seed accepted: the memory job packs
# seed-based order ids into unsigned 32-bit fields, so a seed outside this
# range (a negative one, 2**40) used to fail that scenario.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class DemoOptions:
    """The command's options once checked: what to run and where to write it.

    ``html_option`` is the name the HTML path was given under (``--html``
    or its alias), so that messages about that file repeat it.
    """

    names: list[str]
    time_scale: float
    seed: int
    verbose: bool
    load: LoadConfig | None
    repeat: int
    output: Path | None
    html_option: str
    html_output: Path | None
    tolerance: float
    fail_on: frozenset[str]
    baseline: LoadedReport | None


def read_options(options: dict[str, Any]) -> DemoOptions:
    """Return the command's ``options`` checked, or raise ``CommandError``.

    The checks run in a fixed order, so that of several bad options the
    same one is always reported; none of them runs a scenario.
    """
    try:
        available = PerformanceDemo.available_scenarios()
        defaults = PerformanceDemo.default_scenarios()
    except DemoSetupError as exc:
        raise CommandError(str(exc)) from None
    selected = (
        parse_scenarios(options["scenarios"], available, defaults)
        if options["scenarios"] is not None
        else None
    )
    load = parse_load_options(options)
    names = choose_scenarios(selected, defaults, load)
    time_scale = parse_time_scale(str(options["time_scale"]))
    seed = parse_seed(str(options["seed"]))

    output = check_output_path(options["output_file"])
    html_option, html_value = pick_html_option(options)
    html_output = check_output_path(html_value, html_option)
    if output and html_output and output.resolve() == html_output.resolve():
        raise CommandError(
            f"--output-file and {html_option} name the same file "
            f"{str(output)!r}; give each report its own file."
        )
    if html_output is not None:
        check_charts_available(html_option)

    repeat = parse_repeat(options["repeat"])
    tolerance = _parse_tolerance(options)
    fail_on = compare_cli.parse_fail_on(options["fail_on"])
    compare_cli.require_baseline(fail_on, options["baseline"])
    _check_not_the_baseline(options["baseline"], html_output, html_option, fail_on)
    _check_not_the_baseline(options["baseline"], output, "--output-file", fail_on)
    baseline = None
    if options["baseline"] is not None:
        baseline = compare_cli.load_report_option("--baseline", options["baseline"])

    return DemoOptions(
        names=names,
        time_scale=time_scale,
        seed=seed,
        verbose=bool(options["verbose"]),
        load=load,
        repeat=repeat,
        output=output,
        html_option=html_option,
        html_output=html_output,
        tolerance=tolerance,
        fail_on=fail_on,
        baseline=baseline,
    )


def parse_scenarios(
    value: str | None, available: list[str], defaults: list[str] | None = None
) -> list[str]:
    """Return the scenario names in ``value`` (comma-separated) in given order.

    ``defaults`` are the scenarios a run without ``--scenarios`` runs (all
    of ``available`` when ``None``); an error lists the others apart.
    """
    if value is None:
        return available
    choices = _choices(available, available if defaults is None else defaults)
    names = [part.strip() for part in value.split(",")]
    if not any(names):
        raise CommandError(f"--scenarios is empty; choose from {choices}.")
    if not all(names):
        raise CommandError(
            f"--scenarios {value!r} has an empty name (a comma too many); separate "
            f"the names with single commas; choose from {choices}."
        )
    unknown = [n for n in names if n not in available]
    if unknown:
        # Case ignored in the guess, as in the options' (ORDER_HISTORY).
        folded = {name.lower(): name for name in available}
        guesses = {
            n: [folded[m] for m in difflib.get_close_matches(n.lower(), folded, n=1)]
            for n in unknown
        }
        named = ", ".join(
            f"{n!r} (did you mean {guesses[n][0]}?)" if guesses[n] else repr(n)
            for n in unknown
        )
        # A name like no other is most often a scenario of one's own that
        # was never registered (its settings module not in use, say).
        hint = (
            ""
            if all(guesses.values())
            else "; a scenario of your own is known once registered "
            "(PERFORMANCE_DEMO_SCENARIOS in the settings in use, or an entry "
            "point of the group perfprobe.scenarios)"
        )
        raise CommandError(
            f"--scenarios has unknown scenario(s) {named}; choose from {choices}{hint}."
        )
    return list(dict.fromkeys(names))


def _choices(available: list[str], defaults: list[str]) -> str:
    """Return the scenarios to choose from, those run only when named apart.

    ``load`` is one: listed among the defaults it read as if a plain run
    started the load test.
    """
    listed = ", ".join(name for name in available if name in defaults)
    opt_in = [name for name in available if name not in defaults]
    if not opt_in:
        return listed
    named = f"{', '.join(opt_in)} only when named"
    if opt_in == [LOAD_SCENARIO]:
        named += " (or with --load)"
    elif LOAD_SCENARIO in opt_in:
        named += " (load also with --load)"
    return f"{listed}; {named}" if listed else named


def parse_time_scale(value: str) -> float:
    """Return ``value`` as a number from MIN_TIME_SCALE to MAX_TIME_SCALE.

    Raise ``CommandError`` otherwise; a positive value under the minimum is
    told why it is too small.
    """
    message = (
        f"--time-scale must be a number from {MIN_TIME_SCALE:g} to "
        f"{MAX_TIME_SCALE:g}, not {value!r}"
    )
    try:
        scale = float(value)
    except ValueError:
        raise CommandError(f"{message}.") from None
    if 0 < scale < MIN_TIME_SCALE:
        raise CommandError(
            f"{message}: below {MIN_TIME_SCALE:g} the injected sleeps would "
            "vanish into the queries' own time."
        )
    if not math.isfinite(scale) or not MIN_TIME_SCALE <= scale <= MAX_TIME_SCALE:
        raise CommandError(f"{message}.")
    return scale


def parse_seed(value: str) -> int:
    """Return ``value`` as an integer in 0..MAX_SEED, or raise ``CommandError``."""
    message = f"--seed must be an integer from 0 to {MAX_SEED:,}, not {value!r}."
    try:
        seed = int(value)
    except ValueError:
        raise CommandError(message) from None
    if not 0 <= seed <= MAX_SEED:
        raise CommandError(message)
    return seed


def _parse_tolerance(options: dict[str, Any]) -> float:
    # The value is checked before the missing --baseline, so a bad value is
    # what the message names when both are wrong.
    if options["tolerance"] is None:
        return compare_cli.parse_tolerance(compare_cli.DEFAULT_TOLERANCE_PERCENT)
    tolerance = compare_cli.parse_tolerance(options["tolerance"])
    if options["baseline"] is None:
        raise compare_cli.usage_error(
            "--tolerance needs --baseline FILE: it is the smallest change "
            "counted when comparing with a saved report."
        )
    return tolerance


def _check_not_the_baseline(
    baseline: str | None, path: Path | None, option: str, fail_on: frozenset[str]
) -> None:
    """Refuse an output ``path`` that would replace the ``--baseline`` report.

    The outputs are written before the comparison: an HTML page there would
    replace the saved report, perhaps its only copy, and with ``--fail-on``
    a JSON report there would replace the baseline with the run judged
    against it, which the next run then passes. A new JSON report over its
    baseline without ``--fail-on`` is a rolling baseline, and allowed.
    """
    if baseline is None or path is None:
        return
    if option == "--output-file" and not fail_on:
        return
    try:
        same = os.path.samefile(os.path.expanduser(baseline), path)
    except (OSError, ValueError):
        # Either missing (or unnameable): not the same file.
        return
    if not same:
        return
    if option != "--output-file":
        raise CommandError(
            f"{option} {str(path)!r} is the --baseline report; give the page a "
            "file of its own."
        )
    raise CommandError(
        f"--output-file {str(path)!r} is the --baseline report: with --fail-on, a "
        "run that fails would replace the report it failed against; give this "
        "run's report a file of its own."
    )
