"""Tests for perfprobe.findinglog: N+1 findings logged as their scopes close."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from apps.shop.models import Customer, Order
from perfprobe import PerformanceMonitor
from perfprobe.aggregates import ScopeSummary
from perfprobe.conf import load_settings
from perfprobe.failures import failure_counts
from perfprobe.findinglog import finding_log

URLS = "tests.perfprobe.findinglog_urls"
VIEWS = "tests/perfprobe/findinglog_urls.py"
LOG_ON = {"LOG_N_PLUS_ONE": True}

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def _line_of(marker: str) -> int:
    """Return the line of the views' source that carries ``marker``."""
    source = (Path(__file__).parent / "findinglog_urls.py").read_text()
    found = [n for n, line in enumerate(source.splitlines(), 1) if marker in line]
    assert len(found) == 1, marker
    return found[0]


@pytest.fixture(autouse=True)
def listener_removed() -> Iterator[None]:
    """Fail a test that leaves the finding log listening after its settings."""
    yield
    assert finding_log.collector is None


@pytest.fixture
def orders() -> int:
    """Make 7 orders, each of its own customer; return how many."""
    for i in range(7):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        Order.objects.create(customer=customer)
    return 7


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "perfprobe.findings"]


def test_an_n_plus_one_view_logs_one_line_with_its_loop_field_and_fix(
    client: Client, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A view loading each of k orders' customers logs one line naming all three."""
    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    with override_settings(PERFPROBE=LOG_ON):
        response = client.get("/orders/lazy/")

    assert response.status_code == 200
    loop, rows = _line_of("# n-plus-one-loop"), _line_of("# rows-queryset")
    [line] = _lines(caplog)
    assert line.startswith(
        f"N+1 in GET /orders/lazy/: {orders} queries at {VIEWS}:{loop}, "
        "Order.customer loaded one row at a time. "
        'Add select_related("customer") to the Order queryset assigned to '
        f"orders at {VIEWS}:{rows} "
    )
    [record] = [r for r in caplog.records if r.name == "perfprobe.findings"]
    assert record.levelno == logging.WARNING
    evidence = record.perfprobe_n_plus_one  # type: ignore[attr-defined]
    assert evidence["count"] == orders
    assert (evidence["model"], evidence["field"]) == ("Order", "customer")
    assert evidence["call_site"] == f"{VIEWS}:{loop}"


def test_each_request_with_the_n_plus_one_logs_its_own_line(
    client: Client, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A finding repeated in three requests is logged three times, once each."""
    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    with override_settings(PERFPROBE=LOG_ON):
        for _ in range(3):
            client.get("/orders/lazy/")

    lines = _lines(caplog)
    assert len(lines) == 3
    assert len(set(lines)) == 1


def test_a_select_related_view_logs_nothing(
    client: Client, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The same rows loaded with select_related() give no N+1, so no line."""
    caplog.set_level(logging.DEBUG, logger="perfprobe")
    with override_settings(PERFPROBE=LOG_ON):
        response = client.get("/orders/joined/")
        # The fixed view runs, and the log is listening: the lazy one logs.
        client.get("/orders/lazy/")

    assert response.content.decode() == ",".join(f"c{i}" for i in range(orders))
    [line] = _lines(caplog)
    assert line.startswith("N+1 in GET /orders/lazy/")


def test_a_monitor_scope_logs_its_n_plus_one_under_its_name(
    fresh_monitor: PerformanceMonitor, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``monitor.scope()`` block with an N+1 logs its line as it closes."""
    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    with override_settings(PERFPROBE=LOG_ON):
        with fresh_monitor.scope("nightly-export"):
            names = [o.customer.name for o in Order.objects.all()]  # scope-loop
            assert not _lines(caplog)

    [line] = _lines(caplog)
    here = Path(__file__).read_text().splitlines()
    loop = next(n for n, text in enumerate(here, 1) if text.endswith("# scope-loop"))
    assert line.startswith(
        f"N+1 in nightly-export: {len(names)} queries at "
        f"tests/perfprobe/test_findinglog.py:{loop}, Order.customer loaded"
    )


def test_only_the_finding_log_keeps_a_scope_s_query_shapes(
    fresh_monitor: PerformanceMonitor, orders: int
) -> None:
    """Another scope listener (the Prometheus exporter is one) keeps none.

    The shapes name the queryset line in the console; kept for any listener,
    every N+1 scope of a production process exporting to Prometheus held
    them in the history for nothing. Two shapes here: the orders and the
    customer loaded per row.
    """
    collector = fresh_monitor.collector
    seen: list[ScopeSummary] = []
    collector.add_scope_listener(seen.append)
    try:
        with fresh_monitor.scope("listened"):
            [o.customer.name for o in Order.objects.all()]
        with override_settings(PERFPROBE=LOG_ON):
            with fresh_monitor.scope("logged"):
                [o.customer.name for o in Order.objects.all()]
    finally:
        collector.remove_scope_listener(seen.append)

    listened, logged = seen
    assert listened.n_plus_one and listened.query_groups == ()
    assert logged.n_plus_one and len(logged.query_groups) == 2
    assert not collector.keep_query_groups


def test_the_line_holds_no_query_parameters(
    client: Client, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Emails looked up one per query appear nowhere in the line or its extra."""
    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    emails = [f"c{i}@example.com" for i in range(orders)]
    with override_settings(PERFPROBE=LOG_ON):
        response = client.get("/customers/", {"email": emails})

    assert response.content == str(orders).encode()
    [record] = [r for r in caplog.records if r.name == "perfprobe.findings"]
    logged = record.getMessage() + repr(record.__dict__)
    assert f"N+1 in GET /customers/: {orders} queries at {VIEWS}:" in logged
    assert "example.com" not in logged


@pytest.mark.parametrize(
    ("perfprobe", "debug"),
    [({"LOG_N_PLUS_ONE": False}, True), ({}, False), ({"ENABLED": False}, True)],
)
def test_nothing_is_logged_or_listened_for_with_the_setting_off(
    client: Client,
    orders: int,
    caplog: pytest.LogCaptureFixture,
    fresh_monitor: PerformanceMonitor,
    perfprobe: dict[str, object],
    debug: bool,
) -> None:
    """Off, or left to follow DEBUG while it is off: no line and no listener."""
    caplog.set_level(logging.DEBUG, logger="perfprobe")
    with override_settings(PERFPROBE=perfprobe, DEBUG=debug):
        assert not fresh_monitor.collector._scope_listeners.items
        client.get("/orders/lazy/")

    assert not _lines(caplog)


def test_the_default_follows_debug(
    client: Client, orders: int, caplog: pytest.LogCaptureFixture
) -> None:
    """With the setting left out, DEBUG on turns the lines on."""
    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    with override_settings(PERFPROBE={}, DEBUG=True):
        client.get("/orders/lazy/")

    assert len(_lines(caplog)) == 1


class _Broken(logging.Handler):
    """A handler whose emit raises, as a misconfigured one might."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        raise RuntimeError("handler is broken")


def test_a_raising_handler_does_not_break_the_request(
    client: Client, orders: int
) -> None:
    """The request answers as usual; the failure is counted by log_failure."""
    broken = _Broken()
    findings = logging.getLogger("perfprobe.findings")
    findings.addHandler(broken)
    try:
        with override_settings(PERFPROBE=LOG_ON):
            response = client.get("/orders/lazy/")
    finally:
        findings.removeHandler(broken)

    assert response.status_code == 200
    assert response.content.decode() == ",".join(f"c{i}" for i in range(orders))
    assert broken.calls == 1
    assert failure_counts()[("perfprobe.collector", "n-plus-one log")] == 1


@pytest.mark.parametrize("value", ["yes", 1, 0])
def test_a_setting_that_is_not_a_bool_or_none_is_refused(value: object) -> None:
    """``LOG_N_PLUS_ONE`` takes True, False or None, nothing else."""
    with pytest.raises(ImproperlyConfigured, match="True, False or None"):
        load_settings({"LOG_N_PLUS_ONE": value})


_FIRST_FINDING_SCRIPT = """
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["perfprobe"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PERFPROBE={"LOG_N_PLUS_ONE": %r},
)
django.setup()
print(sorted(m for m in ("perfprobe.report.fmt", "perfprobe.report.nplusonewhere")
             if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("setting", "loaded"),
    [
        (True, "['perfprobe.report.fmt', 'perfprobe.report.nplusonewhere']"),
        (False, "[]"),
    ],
)
def test_the_report_modules_are_imported_when_the_log_turns_on(
    setting: bool, loaded: str
) -> None:
    """Not at the first finding, in whichever request threads reach one together.

    Eight threads of a runserver-like test (the first request of each with
    an N+1) importing the report package at once lost some of their lines to
    a circular import seen half done ("partially initialized module").
    """
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_FINDING_SCRIPT % setting],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == loaded


def test_a_scope_s_query_shapes_are_read_once_for_all_its_findings(
    fresh_monitor: PerformanceMonitor,
    orders: int,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three N+1 loops: three lines, and each lazy load made data only once.

    Each loop's 7 per-row queries (one group, with its lazy load) and its
    list query (one group, no lazy load): 3 groups with a lazy load. The
    3 findings are converted once as the totals take them in and once for
    their lines, the groups once: 9. Reading the groups again for every
    finding made 3 + 3 + 3 x 3 = 15, and a scope with 500 findings spent
    over a second in its close.
    """
    from perfprobe.events import LazyLoad

    caplog.set_level(logging.WARNING, logger="perfprobe.findings")
    with override_settings(PERFPROBE=LOG_ON):
        with fresh_monitor.scope("three-loops"):
            [o.customer.name for o in Order.objects.all()]
            [o.customer.name for o in Order.objects.all()]
            [o.customer.name for o in Order.objects.all()]
            converted = []
            to_dict = LazyLoad.to_dict

            def counted(self: LazyLoad) -> dict[str, str]:
                converted.append(self)
                return to_dict(self)

            monkeypatch.setattr(LazyLoad, "to_dict", counted)

    assert len(_lines(caplog)) == 3
    assert len(converted) == 9


def test_a_sync_racing_another_thread_s_leaves_one_listener_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync turning the log off while another turns it on: one wins, whole.

    The other thread's sync (the log now unwanted) is let run while the
    first is about to add its listener. It used to remove the listener
    before it was added, leaving it installed with the log marked off; the
    next sync on added it a second time, and every finding was logged twice.
    """
    from perfprobe import findinglog, monitoring

    collector = monitoring.monitor.collector
    wanted = [True]
    monkeypatch.setattr(findinglog, "n_plus_one_log_wanted", lambda: wanted[0])
    real_add = collector.add_scope_listener
    racers: list[threading.Thread] = []

    def add_while_another_syncs(listener: Callable[[ScopeSummary], None]) -> None:
        wanted[0] = False
        racer = threading.Thread(target=finding_log.sync)
        racers.append(racer)
        racer.start()
        racer.join(0.5)  # as long as it takes, or until it waits for the lock
        real_add(listener)

    monkeypatch.setattr(collector, "add_scope_listener", add_while_another_syncs)
    finding_log.sync()
    racers[0].join()
    monkeypatch.setattr(collector, "add_scope_listener", real_add)
    listening = collector._scope_listeners.items.count(finding_log.on_scope)
    assert (finding_log.collector is not None, listening) == (False, 0)

    wanted[0] = True
    finding_log.sync()
    assert collector._scope_listeners.items.count(finding_log.on_scope) == 1
    wanted[0] = False
    finding_log.sync()
    assert finding_log.on_scope not in collector._scope_listeners.items
