"""Run the demo's scenarios against the real stack and build the report."""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from apps.shop.latency import consume_interrupt, set_latency_scale
from perfprobe import PerformanceMonitor, Scope
from perfprobe import monitor as default_monitor
from perfprobe.db.callsite import display_path, is_library_path
from perfprobe.events import ErrorEvent, error_type_name
from perfprobe.report import Report, ScenarioResult
from perfprobe.report.jsonio import finite_json

from .scenario_plugins import load_entry_point_scenarios
from .scenarios import DemoContext, Scenario, registry
from .setup import DemoSetupError, prepare_database

logger = logging.getLogger("apps.debugging")

__all__ = ["MAX_TIME_SCALE", "DemoSetupError", "PerformanceDemo"]

EXTRA_SCENARIOS_SETTING = "PERFORMANCE_DEMO_SCENARIOS"
# At 10 the demo already takes minutes; beyond, injected sleeps and timeouts
# stop making sense (and SQLite cannot hold a 1e20 s sleep's arithmetic).
MAX_TIME_SCALE = 10.0
# Below this the injected sleeps (the shortest, 50 ms nominal, would be under
# 50 us) vanish into each query's own time, and the error scenario's 3 s
# statement timeout nears PostgreSQL's 1 ms resolution: the demo would show
# nothing it is meant to show.
MIN_TIME_SCALE = 0.001

ScenarioCallback = Callable[[str, int, int], None]
ResultCallback = Callable[[ScenarioResult], None]


def load_extra_scenarios() -> None:
    """Import the scenarios of ``PERFORMANCE_DEMO_SCENARIOS`` and entry points.

    A module registers its scenarios with ``@register_scenario`` when
    imported; a dotted path to a ``Scenario`` subclass is registered here.
    Then every ``perfprobe.scenarios`` entry point is loaded the same way.
    Raise ``DemoSetupError`` naming the entry and the real error when one
    cannot be loaded.
    """
    _load_setting_scenarios()
    load_entry_point_scenarios()


def _load_setting_scenarios() -> None:
    paths = getattr(settings, EXTRA_SCENARIOS_SETTING, ())
    # A lone string would otherwise be read one letter at a time.
    if not isinstance(paths, list | tuple) or not all(
        isinstance(path, str) for path in paths
    ):
        raise DemoSetupError(
            f"{EXTRA_SCENARIOS_SETTING} must be a list of dotted paths (modules "
            f"or Scenario classes), not {paths!r}"
        )
    for path in paths:
        try:
            _load_scenario_path(path)
        except DemoSetupError:
            raise
        except Exception as exc:
            raise DemoSetupError(
                f"{EXTRA_SCENARIOS_SETTING} entry {path!r} could not be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _load_scenario_path(path: str) -> None:
    try:
        import_module(path)
        return
    except ModuleNotFoundError as exc:
        # Only "this path is not a module" sends us on to the class form; a
        # module that exists but fails to import is reported as it is.
        # A path without a dot cannot name a class, so it is a missing module.
        if exc.name is None or not path.startswith(exc.name) or "." not in path:
            raise
    target = import_string(path)
    if not (isinstance(target, type) and issubclass(target, Scenario)):
        raise DemoSetupError(
            f"{EXTRA_SCENARIOS_SETTING} entry {path!r} is neither a module nor "
            "a Scenario subclass"
        )
    registry.register(target)


class PerformanceDemo:
    """Run registered scenarios, each in its own scope, and report on them.

    ``time_scale`` multiplies every nominal latency and every time threshold.
    One scenario failing never stops the others: its error is kept in its
    ``ScenarioResult`` and in the report.
    """

    def __init__(
        self,
        *,
        monitor: PerformanceMonitor | None = None,
        time_scale: float = 1.0,
        seed: int = 42,
        say: Callable[[str], None] | None = None,
        on_scenario_start: ScenarioCallback | None = None,
        on_scenario_end: ResultCallback | None = None,
        scenario_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        # Infinity would pass a bare "> 0" and only fail mid-run, in the shop's
        # latency setter, after the shared monitor had already taken it.
        if not (
            math.isfinite(time_scale) and MIN_TIME_SCALE <= time_scale <= MAX_TIME_SCALE
        ):
            raise ValueError(
                f"time_scale must be from {MIN_TIME_SCALE:g} to {MAX_TIME_SCALE:g}, "
                f"not {time_scale!r}"
            )
        load_extra_scenarios()
        self.monitor = monitor or default_monitor
        self.time_scale = float(time_scale)
        self.seed = seed
        self._say = say or (lambda text: None)
        self._on_start = on_scenario_start
        self._on_end = on_scenario_end
        #: Per scenario name, the options its ``DemoContext`` carries.
        self.scenario_options = {
            name: dict(options) for name, options in (scenario_options or {}).items()
        }
        self.results: list[ScenarioResult] = []
        self.created_sample_data = False
        #: Whether the run so far drew on the seed: sample data made now, or
        #: a scenario that used its context's ``rng`` or ``use_seed()``.
        self.seed_used = False

    @staticmethod
    def available_scenarios() -> list[str]:
        """Return the names of every registered scenario, in running order."""
        load_extra_scenarios()
        return registry.names()

    @staticmethod
    def default_scenarios() -> list[str]:
        """Return the scenarios a run without a selection runs (not ``load``)."""
        load_extra_scenarios()
        return registry.default_names()

    # -- running -----------------------------------------------------------------

    def prepare(self) -> None:
        """Check migrations and create sample data; raise ``DemoSetupError``."""
        self.created_sample_data = prepare_database(self.seed)

    def run_full_demo(self, scenarios: Iterable[str] | None = None) -> dict[str, Any]:
        """Run the scenarios (the default ones) and return the report as a dict."""
        return self.run(scenarios).to_dict()

    def run(
        self, scenarios: Iterable[str] | None = None, *, prepared: bool = False
    ) -> Report:
        """Run the scenarios (the default ones) and return the ``Report``.

        ``prepared=True`` skips ``prepare()``, for a caller that already ran it.
        """
        names = list(scenarios) if scenarios is not None else registry.default_names()
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
        if not prepared:
            self.prepare()
        self.monitor.reset()
        self.results = []
        self.seed_used = self.created_sample_data
        for index, name in enumerate(names):
            self.run_scenario(name, index=index, total=len(names))
        return self.build_report()

    def run_scenario(
        self, name: str, *, index: int = 0, total: int = 1
    ) -> ScenarioResult:
        """Run one scenario by name in its own scope and keep its result."""
        cls = registry.get(name)
        if self._on_start:
            self._on_start(name, index, total)
        context = DemoContext(
            monitor=self.monitor,
            time_scale=self.time_scale,
            seed=self.seed,
            say=self._say,
            options=dict(self.scenario_options.get(name, {})),
        )
        previous_scale = self.monitor.time_scale
        self.monitor.time_scale = self.time_scale
        set_latency_scale(self.time_scale)
        details: dict[str, Any] = {}
        error: dict[str, str] | None = None
        started_at = time.time()
        try:
            with self.monitor.scope(name, kind="scenario") as scope:
                consume_interrupt()
                try:
                    returned = cls(context).run()
                except Exception as exc:
                    if consume_interrupt():
                        # Ctrl-C during a database sleep reaches us disguised
                        # as OperationalError; stop the demo as Ctrl-C should.
                        raise KeyboardInterrupt from exc
                    error = self._record_failure(name, exc, started_at, scope)
                else:
                    problem = _details_problem(name, returned)
                    if problem is None:
                        details = dict(returned or {})
                    else:
                        error = self._record_failure(name, problem, started_at, scope)
        finally:
            set_latency_scale(None)
            self.monitor.time_scale = previous_scale
            self.seed_used = self.seed_used or context.seed_used

        summary = scope.summary
        result = ScenarioResult(
            name=name,
            description=cls.description,
            status="failed" if error else "ok",
            duration_s=summary.duration_s if summary else time.time() - started_at,
            started_at=started_at,
            scope=scope.path,
            query_count=summary.query_count if summary else 0,
            query_time_s=summary.query_time_s if summary else 0.0,
            nominal_latencies_s=dict(cls.nominal_latencies_s),
            details=details,
            error=error,
        )
        self.results.append(result)
        if self._on_end:
            self._on_end(result)
        return result

    def _record_failure(
        self, name: str, exc: BaseException, started_at: float, scope: Scope
    ) -> dict[str, str]:
        error_type = error_type_name(type(exc)) or "Exception"
        # The report carries the failure; the traceback is for debugging.
        logger.warning("Scenario %s failed: %s", name, exc)
        logger.debug("Scenario %s failed", name, exc_info=exc)
        self.monitor.collector.record_error(
            ErrorEvent(
                source="scenario",
                name=name,
                error_type=error_type,
                started_at=started_at,
                scope=scope.path,
                detail=str(exc)[:500],
            ),
            scope,
        )
        return {"type": error_type, "message": f"{exc}{_where(exc)}"[:1000]}

    def build_report(self) -> Report:
        """Build the report of the scenarios run so far."""
        previous_scale = self.monitor.time_scale
        self.monitor.time_scale = self.time_scale
        try:
            return self.monitor.generate_report(
                scenarios=list(self.results),
                title="perfprobe performance demo",
                database_vendor=connection.vendor,
                seed=self.seed if self.seed_used else None,
                latency_note=(
                    "Latencies were injected on purpose: database-side sleeps inside "
                    "real queries at the demo's nominal values multiplied by "
                    f"{self.time_scale:g}."
                ),
            )
        finally:
            self.monitor.time_scale = previous_scale

    # -- one public method per scenario ---------------------------------------------

    def _single(self, name: str) -> ScenarioResult:
        self.prepare()
        return self.run_scenario(name)

    def database_operations(self) -> ScenarioResult:
        """Run the fast query, slow query and N+1 scenario."""
        return self._single("database_operations")

    def api_requests(self) -> ScenarioResult:
        """Run the five HTTP endpoints scenario."""
        return self._single("api_requests")

    def concurrent_operations(self) -> ScenarioResult:
        """Run the five concurrent workers scenario."""
        return self._single("concurrent_operations")

    def memory_intensive(self) -> ScenarioResult:
        """Run the 100,000-record memory scenario."""
        return self._single("memory_intensive")

    def error_scenarios(self) -> ScenarioResult:
        """Run the query timeout, MemoryError and HTTP 500 scenario."""
        return self._single("error_scenarios")


def _details_problem(name: str, details: object) -> TypeError | None:
    """Return why a scenario's ``run()`` result cannot be its details, or None.

    Details are a dict of JSON data (``None`` counts as none). Anything else
    made the whole command stop while building the report, after every
    scenario had run; it fails this scenario instead. The error is returned,
    not raised: it has no line of its own worth naming.
    """
    if details is None:
        return None
    if not isinstance(details, Mapping):
        return TypeError(
            f"{name}'s run() returned {type(details).__name__}, not a dict of details"
        )
    try:
        finite_json(details)
    except TypeError as exc:
        return TypeError(f"{name}'s run() returned details that are not JSON: {exc}")
    except RecursionError:
        return TypeError(
            f"{name}'s run() returned details that are not JSON: they contain "
            "themselves (or nest too deep)"
        )
    return None


def _where(exc: BaseException) -> str:
    """Return " at path:line" of the innermost line of the project's own code.

    An exception raised inside Django or another library is placed at the
    scenario's line that called it, with the library's line after it: "at
    my_scenarios.py:22 (raised in django/db/models/query.py:1507)".
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    raised = frames[-1]
    try:
        own = [f for f in frames if not is_library_path(os.path.abspath(f.filename))]
    except Exception:  # an invalid PERFPROBE (CALL_SITE_EXCLUDE): the raw line
        return f" at {raised.filename}:{raised.lineno}"
    if not own:
        return f" at {_library_path(raised.filename)}:{raised.lineno}"
    where = f" at {display_path(os.path.abspath(own[-1].filename))}:{own[-1].lineno}"
    if own[-1] is not raised:
        where += f" (raised in {_library_path(raised.filename)}:{raised.lineno})"
    return where


def _library_path(filename: str) -> str:
    # ".../site-packages/django/db/models/query.py" -> "django/db/models/query.py"
    for marker in (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}"):
        _, sep, tail = filename.rpartition(marker)
        if sep:
            return tail
    return display_path(os.path.abspath(filename))
