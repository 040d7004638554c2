"""Compare one ``measure_execution_time`` block with what users would use instead.

Five variants run interleaved, each a loop of empty blocks: an empty ``with``
block (``contextlib.nullcontext()``, the baseline), the same block timed by a
``perf_counter_ns`` pair, ``with monitor.measure_execution_time(...)``, a
prometheus-client ``Histogram.time()`` on a fresh ``CollectorRegistry``, and
an OpenTelemetry SDK span (a ``TracerProvider`` whose span processor hands
every span to an exporter that drops it). The net cost of a variant is its
per-block time minus the empty block's in the same round; the comparisons
are medians over rounds of the per-round ratios of net costs.

Targets: the perfprobe block's net cost is no more than ``Histogram.time()``'s
and at most a tenth of an SDK span's. Each tool proves it recorded: the
histogram's count, the exporter's span count and the collector's count must
equal the number of blocks run.

The tracer provider is never made global: perfprobe's own OpenTelemetry hook
would otherwise start a span inside every perfprobe block and the comparison
would be span against span.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Sequence

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector

from .harness import Row, Timings, format_ns, format_timing, interleave

TARGET_VS_HISTOGRAM = 1.0
TARGET_VS_SPAN = 0.1


class _DroppingExporter:
    """A span exporter that counts spans and keeps none."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[object]) -> object:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Do nothing: there is nothing to flush."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Return True: nothing is buffered."""
        return True


def net_ratios(
    probe: Timings, other: Timings, empty: Timings
) -> tuple[float, float, float]:
    """Return medians over rounds of probe's and other's net ns and their ratio.

    Net means minus the empty block of the same round. A round where the
    other variant's net cost is not positive (noise larger than the cost)
    is left out of the ratio.
    """
    rounds = list(zip(probe.per_op_ns, other.per_op_ns, empty.per_op_ns, strict=True))
    probe_net = [p - e for p, _, e in rounds]
    other_net = [o - e for _, o, e in rounds]
    ratios = [p / o for p, o in zip(probe_net, other_net, strict=True) if o > 0]
    return (
        statistics.median(probe_net),
        statistics.median(other_net),
        statistics.median(ratios) if ratios else float("inf"),
    )


def run(quick: bool) -> list[Row]:
    """Return rows for the perfprobe block against the histogram and the span."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from prometheus_client import CollectorRegistry, Histogram

    monitor = PerformanceMonitor(Collector())
    registry = CollectorRegistry()
    histogram = Histogram("bench_block_seconds", "Bench block.", registry=registry)
    exporter = _DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    tracer = provider.get_tracer("perfprobe.bench")
    clock = time.perf_counter_ns
    empty_context = contextlib.nullcontext()
    counts = {"perfprobe": 0, "histogram": 0, "span": 0}

    def empty(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            with empty_context:
                pass
        return clock() - start

    def counter_pair(ops: int) -> int:
        start = clock()
        for _ in range(ops):
            began = clock()
            with empty_context:
                pass
            elapsed = clock() - began
        del elapsed
        return clock() - start

    def perfprobe_block(ops: int) -> int:
        counts["perfprobe"] += ops
        start = clock()
        for _ in range(ops):
            with monitor.measure_execution_time("bench.alternatives"):
                pass
        return clock() - start

    def histogram_time(ops: int) -> int:
        counts["histogram"] += ops
        start = clock()
        for _ in range(ops):
            with histogram.time():
                pass
        return clock() - start

    def sdk_span(ops: int) -> int:
        counts["span"] += ops
        start = clock()
        for _ in range(ops):
            with tracer.start_as_current_span("bench.alternatives"):
                pass
        return clock() - start

    # Past the exact-percentile limit: the steady state is what is measured.
    perfprobe_block(monitor.collector.settings.EXACT_PERCENTILE_LIMIT + 1)
    timings = interleave(
        [
            ("empty", empty),
            ("pair", counter_pair),
            ("perfprobe", perfprobe_block),
            ("histogram", histogram_time),
            ("span", sdk_span),
        ],
        ops=1_000 if quick else 2_000,
        rounds=15 if quick else 61,
    )
    provider.shutdown()

    recorded = _recorded(monitor, registry, exporter.exported)
    proof = (
        f"recorded {recorded['perfprobe']:,}/{counts['perfprobe']:,}, "
        f"{recorded['histogram']:,}/{counts['histogram']:,}, "
        f"{recorded['span']:,}/{counts['span']:,}"
    )
    honest = all(recorded[k] == counts[k] for k in counts)
    empty_t, probe_t = timings["empty"], timings["perfprobe"]
    pair_net, _, _ = net_ratios(timings["pair"], timings["pair"], empty_t)
    probe_net, hist_net, vs_hist = net_ratios(probe_t, timings["histogram"], empty_t)
    _, span_net, vs_span = net_ratios(probe_t, timings["span"], empty_t)
    base = f"empty with {format_timing(empty_t)}"
    return [
        Row(
            benchmark="alt: perf_counter pair",
            baseline=base,
            measured=format_timing(timings["pair"]),
            ratio="",
            detail=f"net {format_ns(pair_net)}/block",
            target="",
            passed=None,
        ),
        Row(
            benchmark="alt: perfprobe vs Histogram.time()",
            baseline=f"histogram {format_timing(timings['histogram'])}",
            measured=f"perfprobe {format_timing(probe_t)}",
            ratio=f"{vs_hist:.2f}x net",
            detail=(
                f"net {format_ns(probe_net)} vs {format_ns(hist_net)}/block; {proof}"
            ),
            target=f"net ≤ {TARGET_VS_HISTOGRAM:g}x histogram",
            passed=honest and vs_hist <= TARGET_VS_HISTOGRAM,
        ),
        Row(
            benchmark="alt: perfprobe vs OTel SDK span",
            baseline=f"span {format_timing(timings['span'])}",
            measured=f"perfprobe {format_timing(probe_t)}",
            ratio=f"{vs_span:.2f}x net",
            detail=f"net {format_ns(probe_net)} vs {format_ns(span_net)}/block",
            target=f"net ≤ {TARGET_VS_SPAN:g}x span",
            passed=honest and vs_span <= TARGET_VS_SPAN,
        ),
    ]


def _recorded(
    monitor: PerformanceMonitor, registry: object, spans: int
) -> dict[str, int]:
    from prometheus_client import CollectorRegistry

    assert isinstance(registry, CollectorRegistry)
    histogram_count = registry.get_sample_value("bench_block_seconds_count") or 0.0
    operation = monitor.collector.snapshot().operations.get("bench.alternatives")
    return {
        "perfprobe": operation[0].count if operation else 0,
        "histogram": int(histogram_count),
        "span": spans,
    }
