"""Scenario: five worker threads, each with its own database connection."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from apps.shop.latency import DatabaseDelay
from apps.shop.models import Inventory, Product

from .base import Scenario, register_scenario

WORKER_COUNT = 5
WORKER_SECONDS_RANGE = (0.5, 1.5)


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
        threads = []
        for index, (planned_s, product_id) in enumerate(
            zip(durations, product_ids, strict=True)
        ):
            # Threads do not inherit context: each one gets a copy of this
            # scenario's, so its measurements land in the scenario's scope.
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=context.run,
                args=(self._worker, index, planned_s, product_id, results),
                name=f"demo-worker-{index}",
            )
            threads.append(thread)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

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

    def _worker(
        self,
        index: int,
        planned_s: float,
        product_id: int,
        results: list[dict[str, Any]],
    ) -> None:
        label = f"worker-{index}"
        try:
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
