"""Inject scaled database-side latency into real shop queries."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler

# Re-exported: stopping a query is the other half of the demo's database tools.
from apps.shop.timeouts import RUNAWAY_QUERY_SQL, run_runaway_query, statement_timeout

__all__ = [
    "NOMINAL_LATENCY_S",
    "RUNAWAY_QUERY_SQL",
    "DatabaseDelay",
    "InjectedLatencyManager",
    "consume_interrupt",
    "delayed",
    "get_latency_scale",
    "inject_query_latency",
    "register_sqlite_functions",
    "resume_sleeps",
    "run_runaway_query",
    "set_latency_scale",
    "statement_timeout",
    "stop_sleeps",
]

_ModelT = TypeVar("_ModelT", bound=models.Model)

# The documented response times of the demo's endpoints at scale 1.0, keyed by
# the URL names in apps/shop/urls.py.
NOMINAL_LATENCY_S: dict[str, float] = {
    "product-list": 0.2,
    "order-create": 0.8,
    "order-detail": 0.05,
    "user-profile": 0.1,
    "inventory-update": 1.2,
    "analytics-dashboard": 2.0,
    "order-invoice": 0.5,
}

SLEEP_FUNCTION = "perfprobe_sleep"


# sqlite3 turns any exception raised inside a SQL function, Ctrl-C included,
# into OperationalError; this flag keeps the fact that it was an interrupt.
_interrupted = threading.Event()


# Set when the demo is being stopped: SQLite sleeps run in Python in the
# thread that queries, where no signal reaches a worker or a request thread,
# so they wait on this instead of sleeping blind.
_stopping = threading.Event()


class SleepStopped(Exception):
    """Raised inside a SQLite sleep cut short by ``stop_sleeps()``."""


def _sqlite_sleep(seconds: float | None) -> int:
    """Sleep for ``seconds`` inside a SQLite query, then return 0.

    Raise ``SleepStopped`` (an OperationalError to the caller) as soon as
    ``stop_sleeps()`` is called.
    """
    if seconds:
        try:
            stopped = _stopping.wait(max(0.0, float(seconds)))
        except KeyboardInterrupt:
            _interrupted.set()
            raise
        if stopped:
            raise SleepStopped("the demo is stopping")
    return 0


def stop_sleeps() -> None:
    """End every SQLite sleep now, in any thread, and any started until resumed."""
    _stopping.set()


def resume_sleeps() -> None:
    """Let SQLite sleeps run their full time again after ``stop_sleeps()``."""
    _stopping.clear()


def consume_interrupt() -> bool:
    """Return whether Ctrl-C hit a database sleep since the last call."""
    interrupted = _interrupted.is_set()
    _interrupted.clear()
    return interrupted


def register_sqlite_functions(
    sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    """Define perfprobe_sleep() on a new SQLite connection; a receiver."""
    if connection.vendor != "sqlite":
        return
    # Declared deterministic, although it is not, because that is what makes
    # SQLite evaluate a call with constant arguments once, before the scan,
    # instead of once per row or (for a non-matching WHERE) not at all.
    connection.connection.create_function(
        SLEEP_FUNCTION, 1, _sqlite_sleep, deterministic=True
    )


class DatabaseDelay(models.Expression):
    """A condition, always true, that makes the database sleep once per query.

    SQLite sleeps in perfprobe_sleep(), registered on each connection;
    PostgreSQL in its own pg_sleep().

    Use it in ``.filter()``; ``seconds`` is used as given, without the scale.
    """

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = _non_negative(seconds, "seconds")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.seconds!r})"

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        """Compile to an uncorrelated scalar subquery, evaluated only once."""
        return f"(SELECT {SLEEP_FUNCTION}(%s)) = 0", [self.seconds]

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        """Compile to a bare call, hoisted out of the scan as a constant."""
        # A scalar subquery is evaluated lazily on SQLite: never when another
        # condition rejects every row first, so it would not delay reliably.
        return f"{SLEEP_FUNCTION}(%s) = 0", [self.seconds]

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        """Compile to an InitPlan on pg_sleep(), run once as a one-time filter."""
        # The server's own pg_sleep(), called in the query itself, so that the
        # recorded SQL shows where the time went.
        return "(SELECT 0 FROM pg_sleep(%s::float8)) = 0", [self.seconds]


def _non_negative(value: float, name: str) -> float:
    """Return ``value`` as a float; raise ValueError unless finite and >= 0."""
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


# None means "follow settings.SHOP_LATENCY_SCALE". No lock is needed: binding
# or reading one module global is atomic, so a thread sees the old value or
# the new one, never a mixture.
_scale_override: float | None = None


def get_latency_scale() -> float:
    """Return the factor applied to nominal latencies (1.0: as documented)."""
    override = _scale_override
    if override is not None:
        return override
    return _non_negative(
        getattr(settings, "SHOP_LATENCY_SCALE", 1.0), "SHOP_LATENCY_SCALE"
    )


def set_latency_scale(scale: float | None) -> None:
    """Set the process-wide latency scale; None returns to the setting.

    Raise ValueError for a negative or non-finite scale.
    """
    global _scale_override
    _scale_override = None if scale is None else _non_negative(scale, "scale")


def delayed(
    queryset: models.QuerySet[_ModelT], seconds: float
) -> models.QuerySet[_ModelT]:
    """Return ``queryset`` made to take ``seconds`` times the scale longer.

    The delay runs inside the query's own SQL. With a scaled delay of 0 the
    queryset comes back unchanged, so its SQL is exactly the production SQL.
    A sliced queryset (``Order.objects.all()[:8]``) is delayed too; a
    combined one (``union()``), sliced or not, is refused as ``filter()``
    refuses it.
    """
    scaled_s = _non_negative(seconds, "seconds") * get_latency_scale()
    if scaled_s == 0:
        return queryset
    if queryset.query.is_sliced and not queryset.query.combinator:
        # Django refuses filter() after a slice, because a condition would
        # change which rows the slice takes; this one is always true, so it
        # goes into the sliced query's WHERE as filter() would put it.
        sliced = queryset.all()
        sliced.query.add_q(models.Q(DatabaseDelay(scaled_s)))
        return sliced
    # A union() (sliced or not) is refused by filter(), as it must be: its
    # compiled SQL never reads a condition added to it.
    return queryset.filter(DatabaseDelay(scaled_s))


_injected_delay_s: ContextVar[float] = ContextVar("shop_injected_delay_s", default=0.0)


@contextmanager
def inject_query_latency(seconds: float) -> Iterator[None]:
    """Delay each InjectedLatencyManager query in the block by ``seconds``.

    The value is used as given, not multiplied by the latency scale. The
    setting is per thread and per async task, like any ContextVar.
    """
    token = _injected_delay_s.set(_non_negative(seconds, "seconds"))
    try:
        yield
    finally:
        _injected_delay_s.reset(token)


class InjectedLatencyManager(models.Manager[_ModelT]):
    """A manager whose querysets carry the delay of inject_query_latency().

    Set it as a model's base manager so that lazy related-object loads (which
    Django routes through ``_base_manager``) pick the delay up. Saves and
    cascades use the base manager too, so inside the block they are delayed
    as well. It never hides rows, as a base manager must not.
    """

    def get_queryset(self) -> models.QuerySet[_ModelT]:
        """Return all rows, delayed while inject_query_latency() is active."""
        queryset = super().get_queryset()
        delay_s = _injected_delay_s.get()
        if delay_s > 0:
            queryset = queryset.filter(DatabaseDelay(delay_s))
        return queryset
