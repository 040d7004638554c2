"""Scenario: five worker threads, each with its own database connection."""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F

from apps.shop.latency import DatabaseDelay, resume_sleeps, stop_sleeps
from apps.shop.models import Inventory, Product

from .base import Scenario, register_scenario

WORKER_COUNT = 5
WORKER_SECONDS_RANGE = (0.5, 1.5)
# How long an interrupted run waits for its workers to wind down.
STOP_WAIT_S = 5.0


@register_scenario
class ConcurrentOperationsScenario(Scenario):
    """Run workers in parallel threads, each timed and memory-tracked."""

    name = "concurrent_operations"
    order = 30
    description = (
        "Five worker threads, each 0.5-1.5 s (seeded), each reading stock and "
        "restocking a product through its own database connection."
    )
    nominal_latencies_s = {"worker_min": 0.5, "worker_max": 1.5}

    def run(self) -> dict[str, Any]:
        """Start the workers, wait for all of them and return their results."""
        low, high = WORKER_SECONDS_RANGE
        durations = [
            self.context.scaled(self.context.rng.uniform(low, high))
            for _ in range(WORKER_COUNT)
        ]
        product_ids = list(
            Product.objects.order_by("id").values_list("id", flat=True)[:WORKER_COUNT]
        )
        if len(product_ids) < WORKER_COUNT:
            raise RuntimeError("the shop has too few products for the workers")

        results: list[dict[str, Any]] = [{} for _ in range(WORKER_COUNT)]
        # Set by each worker as it ends, and waited on instead of
        # Thread.join(): a join that Ctrl-C stops while the thread runs
        # releases the thread's own lock (threading._wait_for_tstate_lock,
        # Python 3.11), so the thread counts as finished and no later join
        # waits for it.
        self._finished = [threading.Event() for _ in range(WORKER_COUNT)]
        threads = []
        for index, (planned_s, product_id) in enumerate(
            zip(durations, product_ids, strict=True)
        ):
            # Threads do not inherit context: each one gets a copy of this
            # scenario's, so its measurements land in the scenario's scope.
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=context.run,
                args=(self._run_worker, index, planned_s, product_id, results),
                name=f"demo-worker-{index}",
            )
            threads.append(thread)
        self._connections: list[BaseDatabaseWrapper] = []
        try:
            # Ctrl-C inside Thread.start() can leave a thread that runs but
            # that join() refuses as not started: it waits until all are.
            with ctrl_c_deferred():
                for thread in threads:
                    thread.start()
            for finished in self._finished:
                # Short waits, so that Ctrl-C is seen at once.
                while not finished.wait(0.05):
                    pass
            for thread in threads:
                thread.join()
        except BaseException:
            self._stop_workers(threads)
            raise

        failed = [r for r in results if r.get("error")]
        if failed:
            raise RuntimeError(f"{len(failed)} worker(s) failed: {failed}")
        return {
            "workers": results,
            "memory_attribution": (
                "per-worker memory is process-wide: the workers ran at the same "
                "time and Python's heap and RSS are shared by all threads"
            ),
        }

    def _stop_workers(self, threads: list[threading.Thread]) -> None:
        """Cut the workers' database sleeps short and wait for them to end.

        Called on Ctrl-C: without it the process would wait out the
        longest worker's sleep before it could exit.
        """
        stop_sleeps()
        for wrapper in list(self._connections):
            # PostgreSQL sleeps in the server: cancel the worker's query
            # (psycopg's cancel may be called from another thread).
            if wrapper.vendor == "postgresql":
                with contextlib.suppress(Exception):
                    wrapper.connection.cancel()
        deadline = time.monotonic() + STOP_WAIT_S
        try:
            for thread, finished in zip(threads, self._finished, strict=True):
                if thread.ident is not None:
                    finished.wait(max(0.0, deadline - time.monotonic()))
                    thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            resume_sleeps()

    def _run_worker(
        self,
        index: int,
        planned_s: float,
        product_id: int,
        results: list[dict[str, Any]],
    ) -> None:
        try:
            self._worker(index, planned_s, product_id, results)
        finally:
            self._finished[index].set()

    def _worker(
        self,
        index: int,
        planned_s: float,
        product_id: int,
        results: list[dict[str, Any]],
    ) -> None:
        label = f"worker-{index}"
        try:
            # Connected first, so that Ctrl-C can reach the worker's query.
            # The wrapper itself: ``connection`` is a proxy that, read from
            # the main thread, would name the main thread's connection.
            wrapper = connections[DEFAULT_DB_ALIAS]
            wrapper.ensure_connection()
            self._connections.append(wrapper)
            with (
                self.monitor.scope(label, kind="worker"),
                self.monitor.measure_execution_time(
                    "concurrent.worker", tags={"worker": index}
                ),
                self.monitor.track_memory_usage(label) as memory,
            ):
                # The read carries the worker's latency as a database-side
                # sleep; the write is short so writers barely wait on the lock.
                stock = (
                    Inventory.objects.filter(product_id=product_id)
                    .filter(DatabaseDelay(planned_s))
                    .values_list("quantity", flat=True)
                    .get()
                )
                with transaction.atomic():
                    Inventory.objects.filter(product_id=product_id).update(
                        quantity=F("quantity") + 1
                    )
            record = memory.record
            results[index] = {
                "worker": index,
                "thread": threading.current_thread().name,
                "planned_s": planned_s,
                "stock_before": stock,
                "rss_delta_bytes": record.rss_delta_bytes if record else None,
                "heap_peak_above_start_bytes": (
                    record.peak_above_start_bytes if record else None
                ),
                "memory_attribution": (
                    "process-wide" if record and record.process_wide else "this block"
                ),
            }
        except Exception as exc:
            results[index] = {"worker": index, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            # Each thread opened its own connection; close it as the thread ends.
            connection.close()


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Hold back Ctrl-C until the block ends, then raise it as usual.

    Only the main thread receives SIGINT; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)
