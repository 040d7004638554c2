"""Set up each configuration inside its worker, and show that it recorded.

Runs in the benchmark's virtualenv (bench/.venv), where the compared tools
are installed; nothing here is imported by the coordinator.
"""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import BASELINE, CONTROL

_BASE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]


class CountingHandler(logging.Handler):
    """Count log records per logger name, then drop them.

    Installed on the root logger in every configuration alike, so a tool's
    warnings cost their formatting-free path and never reach a terminal.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count ``record`` under its logger's name."""
        self.counts[record.name] += 1


LOG_COUNTS = CountingHandler()


@dataclass
class Setup:
    """Settings for one configuration and the hooks around ``django.setup()``."""

    settings: dict[str, Any]
    before_setup: list[Callable[[], None]] = field(default_factory=list)
    after_setup: list[Callable[[], None]] = field(default_factory=list)
    proof: Callable[[], tuple[bool, str]] = lambda: (True, "nothing to record")


def base_settings(db_path: Path) -> dict[str, Any]:
    """Return the settings every configuration starts from."""
    return {
        "DEBUG": False,
        "SECRET_KEY": "bench-only-not-secret",
        "ALLOWED_HOSTS": ["testserver"],
        "ROOT_URLCONF": "bench.requests.site.urls",
        "INSTALLED_APPS": ["bench.requests.site.apps.BenchSiteConfig"],
        "MIDDLEWARE": list(_BASE_MIDDLEWARE),
        # Persistent connections, as in production: CONN_MAX_AGE=0 would
        # reopen SQLite on every request and drown the monitors' cost.
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(db_path),
                "CONN_MAX_AGE": None,
            }
        },
        "USE_TZ": True,
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": []},
            }
        ],
        "LOGGING_CONFIG": None,
    }


class DiscardingExporter:
    """An OpenTelemetry span exporter that counts spans and keeps none."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[Any]) -> Any:
        """Count ``spans`` and report success."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Do nothing: there is no connection to close."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Report that nothing is pending."""
        return True


def _provider(exporter: DiscardingExporter) -> Any:
    # Synchronous export: its whole cost lands inside the timed request,
    # where a batch processor would move part of it to a thread.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    return provider


def _perfprobe(
    settings: dict[str, Any], everything: bool, prometheus: bool = False
) -> Setup:
    settings["INSTALLED_APPS"].append("perfprobe")
    settings["MIDDLEWARE"].insert(0, "perfprobe.middleware.PerformanceMiddleware")
    # Off whatever DEBUG says: the development log of N+1 findings is a
    # scope listener, which stops the batched close of request scopes.
    settings["PERFPROBE"] = {"LOG_N_PLUS_ONE": False}
    prometheus = prometheus or everything
    if prometheus:
        settings["PERFPROBE"]["PROMETHEUS"] = True
    exporter = DiscardingExporter()
    setup = Setup(settings)
    if everything:
        settings["PERFPROBE"] = {
            "PROMETHEUS": True,
            "OPENTELEMETRY": True,
            "STORE_SQL_PARAMETERS": True,
            "STORE_QUERY_STRINGS": True,
            "TRACK_MEMORY": True,
            "MEASURE_TIMING": True,
            "LOG_N_PLUS_ONE": False,
        }

        def use_provider() -> None:
            # Before django.setup(), as an application's wsgi.py would.
            from opentelemetry import trace

            trace.set_tracer_provider(_provider(exporter))

        setup.before_setup.append(use_provider)

    def proof() -> tuple[bool, str]:
        from perfprobe import monitor

        summary = monitor.generate_report().summary
        text = (
            f"report: {summary['requests']} requests, {summary['queries']} "
            f"queries, {summary['n_plus_one']} N+1 finding(s)"
        )
        ok = summary["requests"] > 0 and summary["n_plus_one"] > 0
        if everything:
            text += f"; {exporter.exported} spans exported"
            ok = ok and exporter.exported > 0
        if prometheus:
            samples = _prometheus_total("perfprobe_")
            text += f"; {samples:.0f} in perfprobe_* counters"
            ok = ok and samples > 0
        return ok, text

    setup.proof = proof
    return setup


def _prometheus_total(prefix: str, suffix: str = "_total") -> float:
    from prometheus_client import REGISTRY

    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name.startswith(prefix) and sample.name.endswith(suffix)
    )


def _django_prometheus(settings: dict[str, Any]) -> Setup:
    settings["INSTALLED_APPS"].append("django_prometheus")
    settings["MIDDLEWARE"].insert(
        0, "django_prometheus.middleware.PrometheusBeforeMiddleware"
    )
    settings["MIDDLEWARE"].append(
        "django_prometheus.middleware.PrometheusAfterMiddleware"
    )
    settings["DATABASES"]["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"

    def proof() -> tuple[bool, str]:
        requests = _prometheus_total("django_http_requests_before_middlewares")
        queries = _prometheus_total("django_db_execute")
        return requests > 0 and queries > 0, (
            f"counters: {requests:.0f} requests, {queries:.0f} queries executed"
        )

    return Setup(settings, proof=proof)


def _opentelemetry(settings: dict[str, Any]) -> Setup:
    exporter = DiscardingExporter()

    def instrument() -> None:
        # Before the WSGI handler exists: instrument() inserts its
        # middleware into settings.MIDDLEWARE, read when the handler loads.
        # Imported by name: the package is in the bench's own environment
        # only, and has no type information.
        django_instrumentation = importlib.import_module(
            "opentelemetry.instrumentation.django"
        )
        instrumentor = django_instrumentation.DjangoInstrumentor()
        instrumentor.instrument(tracer_provider=_provider(exporter))

    def proof() -> tuple[bool, str]:
        return exporter.exported > 0, f"{exporter.exported} spans exported"

    return Setup(settings, after_setup=[instrument], proof=proof)


def _silk(settings: dict[str, Any]) -> Setup:
    settings["INSTALLED_APPS"].append("silk")
    settings["MIDDLEWARE"].insert(0, "silk.middleware.SilkyMiddleware")
    settings["SILKY_PYTHON_PROFILER"] = False

    def proof() -> tuple[bool, str]:
        from silk.models import Request, SQLQuery  # type: ignore[import-not-found]

        requests, queries = Request.objects.count(), SQLQuery.objects.count()
        return requests > 0 and queries > 0, (
            f"tables: {requests} silk_request rows, {queries} silk_sqlquery rows"
        )

    return Setup(settings, proof=proof)


def show_toolbar(request: object) -> bool:
    """Show django-debug-toolbar on every request (SHOW_TOOLBAR_CALLBACK)."""
    return True


def _debug_toolbar(settings: dict[str, Any]) -> Setup:
    settings["INSTALLED_APPS"] += ["django.contrib.staticfiles", "debug_toolbar"]
    settings["STATIC_URL"] = "/static/"
    settings["MIDDLEWARE"].insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    settings["DEBUG_TOOLBAR_CONFIG"] = {
        "SHOW_TOOLBAR_CALLBACK": "bench.requests.tools.show_toolbar",
        "IS_RUNNING_TESTS": False,
    }

    def proof() -> tuple[bool, str]:
        from debug_toolbar.store import get_store  # type: ignore[import-not-found]

        store = get_store()
        ids = list(store.request_ids())
        # The worker served the lazy list just before asking for this proof.
        sql = store.panel(ids[-1], "SQLPanel") if ids else {}
        queries = sql.get("queries", []) if isinstance(sql, dict) else []
        similar = sum(1 for q in queries if q.get("similar_count"))
        return bool(ids) and similar > 0, (
            f"store: {len(ids)} toolbars kept (the last RESULTS_CACHE_SIZE); "
            f"SQL panel of the last lazy list: {len(queries)} queries, "
            f"{similar} marked similar"
        )

    return Setup(settings, proof=proof)


def _nplusone(settings: dict[str, Any]) -> Setup:
    settings["INSTALLED_APPS"].append("nplusone.ext.django")
    settings["MIDDLEWARE"].insert(0, "nplusone.ext.django.NPlusOneMiddleware")
    settings["NPLUSONE_RAISE"] = False
    settings["NPLUSONE_LOGGER"] = logging.getLogger("nplusone")
    settings["NPLUSONE_LOG_LEVEL"] = logging.WARNING

    def proof() -> tuple[bool, str]:
        warnings = LOG_COUNTS.counts["nplusone"]
        return warnings > 0, f"{warnings} N+1 warnings logged"

    return Setup(settings, proof=proof)


def make_setup(name: str, db_path: Path) -> Setup:
    """Return the settings and hooks of configuration ``name``."""
    settings = base_settings(db_path)
    makers: dict[str, Callable[[dict[str, Any]], Setup]] = {
        BASELINE: Setup,
        CONTROL: Setup,
        "perfprobe": lambda s: _perfprobe(s, everything=False),
        "perfprobe-prometheus": lambda s: _perfprobe(
            s, everything=False, prometheus=True
        ),
        "perfprobe-all": lambda s: _perfprobe(s, everything=True),
        "django-prometheus": _django_prometheus,
        "opentelemetry": _opentelemetry,
        "silk": _silk,
        "debug-toolbar": _debug_toolbar,
        "nplusone": _nplusone,
    }
    return makers[name](settings)
