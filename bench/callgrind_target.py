"""Run one fixed workload N times, for bench/callgrind.py to count instructions.

Usage: ``python bench/callgrind_target.py MODE N``, MODE one of ``empty``,
``timer``, ``histogram`` (prometheus-client's ``Histogram.time()``),
``request-plain``, ``request-perfprobe``, ``lazy-plain``, ``lazy-wrapper``
or ``lazy-perfprobe``. Nothing is printed but a final ``ok`` (and the
request modes' count of what was recorded): the process is run under
valgrind, where every instruction is counted, so it does only its workload
and its start-up.

The ``lazy-*`` modes serve a view that lists 50 orders and reads each one's
customer lazily: 51 queries, an N+1. ``lazy-plain`` runs it unmonitored,
``lazy-wrapper`` with an execute wrapper that only calls through (what
Django's wrapper mechanism alone costs), ``lazy-perfprobe`` with perfprobe's
middleware and query recorder on default settings.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = (
    "empty",
    "timer",
    "histogram",
    "request-plain",
    "request-perfprobe",
    "lazy-plain",
    "lazy-wrapper",
    "lazy-perfprobe",
)
#: Rows the lazy view lists; it runs one query more than this.
LAZY_ROWS = 50
PERFPROBE_MIDDLEWARE = "perfprobe.middleware.PerformanceMiddleware"


def _setup(db_path: str, keep_middleware: bool) -> None:
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "src")]
    os.environ["PERFPROBE_DEMO_DB"] = db_path
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    import django
    from django.conf import settings

    if not keep_middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "perfprobe" not in m]
    # This very module is the URLconf: one view that runs no query.
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    django.setup()


def ping(request: HttpRequest) -> HttpResponse:
    """Answer a small JSON object without touching the database."""
    from django.http import JsonResponse

    return JsonResponse({"ok": True})


def lazy_orders(request: HttpRequest) -> HttpResponse:
    """List orders and read each one's customer lazily: an N+1."""
    from django.http import JsonResponse

    from apps.shop.models import Order

    orders = Order.objects.all()[:LAZY_ROWS]
    return JsonResponse({"orders": [[o.pk, o.customer.name] for o in orders]})


def __getattr__(name: str) -> object:
    # Django reads ``urlpatterns`` only after setup, when path() is importable.
    if name == "urlpatterns":
        from django.urls import path

        return [path("ping/", ping), path("lazy/", lazy_orders)]
    raise AttributeError(name)


def _hold_off_tracer_lookups() -> None:
    """Look for an OpenTelemetry tracer provider at start-up only.

    While none is set, perfprobe looks again once per wall-clock second
    (``perfprobe.tracing.RECHECK_S``), about 21k instructions each time. At
    native speed that is once in thousands of requests, a few instructions
    a request; under valgrind, some fifty times slower and slower still on
    a loaded machine, it came every 20 to 30 requests and moved the
    per-request and per-query figures by several thousand instructions with
    the machine's load. Held off here so the counts repeat; the timed
    benchmark (bench.requests) keeps the real once-a-second look.
    """
    from perfprobe import tracing

    tracing.RECHECK_S = 1e9


def _create_orders() -> None:
    """Create the two tables the lazy view reads and fill them.

    Through the schema editor rather than migrations, which would cost
    far more instructions than the workload under callgrind.
    """
    from django.db import connection

    from apps.shop.models import Customer, Order

    with connection.schema_editor() as editor:
        editor.create_model(Customer)
        editor.create_model(Order)
    customers = Customer.objects.bulk_create(
        Customer(name=f"Customer {i}", email=f"c{i}@example.com")
        for i in range(LAZY_ROWS)
    )
    Order.objects.bulk_create(Order(customer=c) for c in customers)


def _passthrough(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    return execute(sql, params, many, context)


def _timer_loop(mode: str, count: int) -> None:
    from perfprobe import PerformanceMonitor
    from perfprobe.collector import Collector

    monitor = PerformanceMonitor(Collector())
    empty = contextlib.nullcontext()
    # Both modes warm up the same way, so start-up cancels out between them.
    for _ in range(monitor.collector.settings.EXACT_PERCENTILE_LIMIT + 1):
        with monitor.measure_execution_time("bench.callgrind"):
            pass
    if mode == "histogram":
        # prometheus-client's Histogram.time(), the issue 4 yardstick.
        from prometheus_client import CollectorRegistry, Histogram

        histogram = Histogram("bench_callgrind", "x", registry=CollectorRegistry())
        for _ in range(count):
            with histogram.time():
                pass
    elif mode == "timer":
        for _ in range(count):
            with monitor.measure_execution_time("bench.callgrind"):
                pass
    else:
        for _ in range(count):
            with empty:
                pass


def _request_loop(count: int, path: str = "/ping/") -> None:
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
    }

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        if not status.startswith("200"):
            raise RuntimeError(f"request answered {status}")

    # The first requests build caches (URL resolver, middleware chain);
    # both modes pay them alike. The final snapshot makes an event of each
    # recent item and a summary of each history entry, so the rings are
    # filled first: then it reads as much after 100 requests as after 600
    # and drops out of their difference. (With 20 before, 100 and 600 quiet
    # requests left 120 and 620 recent items: about 40 % of the per-request
    # figure was that read, not the requests.) 20 /lazy/ requests fill them.
    from perfprobe.conf import get_settings

    warm = 20 if path == "/lazy/" else 20 + get_settings().RECENT_EVENTS_SIZE
    for _ in range(count + warm):
        env = dict(environ, **{"wsgi.input": io.BytesIO()})
        response = handler(env, start_response)
        b"".join(response)
        response.close()
    from perfprobe import monitor

    endpoints = monitor.collector.snapshot().endpoints
    recorded = sum(e["stats"].count for e in endpoints.values() if e["stats"])
    print(f"recorded {recorded}")


def _lazy_loop(mode: str, count: int) -> None:
    from django.db import connection

    from perfprobe import monitor
    from perfprobe.db import installer

    _create_orders()
    if mode != "lazy-perfprobe":
        installer.uninstall()
    if mode == "lazy-wrapper":
        connection.execute_wrappers.append(_passthrough)
    _request_loop(count, "/lazy/")
    snapshot = monitor.collector.snapshot()
    queries = snapshot.query_total.count if snapshot.query_total else 0
    print(f"queries {queries} n+1 {len(snapshot.n_plus_one_totals)}")


def main(argv: list[str]) -> int:
    """Run MODE N times and return 0; 2 for bad arguments."""
    if len(argv) != 3 or argv[1] not in MODES or not argv[2].isdigit():
        print(f"usage: callgrind_target.py {{{','.join(MODES)}}} N", file=sys.stderr)
        return 2
    mode, count = argv[1], int(argv[2])
    db_path = os.environ.get("PERFPROBE_DEMO_DB", ":memory:")
    plain = mode in ("request-plain", "lazy-plain", "lazy-wrapper")
    _setup(db_path, keep_middleware=not plain)
    _hold_off_tracer_lookups()
    if mode.startswith("lazy"):
        _lazy_loop(mode, count)
    elif mode.startswith("request"):
        _request_loop(count)
    else:
        _timer_loop(mode, count)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
