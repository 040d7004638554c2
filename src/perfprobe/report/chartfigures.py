"""Lay out each of the HTML report's charts as a matplotlib Figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chartdata import ChartData
from .fmt import BYTES_PER_MB, format_duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_WIDTH_IN = 10.0
_TIME_AXIS = "seconds since the first scenario or memory record"
#: The ratio of the slowest request to the smallest p50 from which the
#: latency chart's axis is logarithmic.
LOG_RATIO = 20.0
_BLUE, _RED, _ORANGE, _GREY = "#0969da", "#b42318", "#bc4c00", "#8c959f"

# Points between a line's end and its label: clear of the p50 dot (40
# square points, a radius of about 3.2 points) and the p95/p99 ticks.
_LABEL_OFFSET_PT = 6


def _figure(rows: int, *, floor_in: float = 2.2, time_axis: bool = False) -> Figure:
    from matplotlib.figure import Figure

    height = max(floor_in, 0.9 + rows * 0.32)
    if not time_axis:
        return Figure(figsize=(_WIDTH_IN, height), layout="constrained")
    # Fixed margins, the same for every chart over time, so that the
    # timeline and the memory chart line up one above the other.
    figure = Figure(figsize=(_WIDTH_IN, height))
    figure.subplots_adjust(left=0.2, right=0.78, bottom=0.7 / height, top=0.95)
    return figure


def _legend(axes: Axes) -> None:
    # Outside the plot, on the right, where it cannot hide a bar or a point.
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)


def _time_span(data: ChartData) -> float:
    # One range for the timeline and the memory chart, so that they line up.
    ends = [s.end_s for s in data.timeline]
    ends += [p.at_s for p in data.memory_points]
    ends += [b.end_s for b in data.memory_blocks]
    return max(ends) * 1.06 if ends and max(ends) > 0 else 1.0


def _row_labels(axes: Axes, labels: list[str]) -> None:
    axes.set_yticks(range(len(labels)), labels=labels)
    # The first row at the top, as in the tables.
    axes.invert_yaxis()
    axes.grid(False, axis="y")


def log_latency_axis(data: ChartData) -> bool:
    """Return whether the latency chart needs a logarithmic duration axis.

    On a linear axis an endpoint of a few milliseconds beside one of a
    second is a dot at zero; past ``LOG_RATIO`` between the slowest request
    and the smallest p50, the axis is logarithmic.
    """
    medians = [r.p50_s for r in data.latency if r.p50_s > 0]
    slowest = max((r.max_s for r in data.latency), default=0.0)
    return bool(medians) and slowest >= LOG_RATIO * min(medians)


def latency_figure(data: ChartData) -> Figure:
    """Return the latency chart: each endpoint's fastest to slowest, p50 to p99."""
    rows = data.latency
    figure = _figure(len(rows))
    axes = figure.add_subplot()
    _row_labels(axes, [f"{r.label} (n={r.count})" for r in rows])
    ys = range(len(rows))
    log = log_latency_axis(data)
    # A log axis has no zero: a duration of 0 (a coarse clock) sits at the
    # smallest one drawn.
    positive = [v for r in rows for v in (r.min_s, r.p50_s, r.max_s) if v > 0] or [1e-3]
    floor_ms = min(positive) * 1000 if log else 0.0

    def ms(seconds: float) -> float:
        return max(seconds * 1000, floor_ms)

    axes.hlines(
        ys,
        [ms(r.min_s) for r in rows],
        [ms(r.max_s) for r in rows],
        color=_GREY,
        linewidth=2,
        label="fastest to slowest",
    )
    # Ticks for the tail, drawn first, so that the p50 dot stays visible when
    # an endpoint's percentiles coincide (a single request, say).
    for field, color, name in (("p99_s", _RED, "p99"), ("p95_s", _ORANGE, "p95")):
        values = [ms(getattr(r, field)) for r in rows]
        axes.scatter(
            values, ys, marker="|", s=220, linewidths=2, color=color, label=name
        )
    axes.scatter(
        [ms(r.p50_s) for r in rows], ys, s=40, color=_BLUE, zorder=3, label="p50"
    )
    # Each line says its figures, so a short one still reads at any scale.
    # Set off by an offset, not leading spaces: the page's SVG text is text,
    # whose leading spaces a browser drops, which put the label's "p" under
    # the p50 dot of a single request.
    for y, row in enumerate(rows):
        axes.annotate(
            f"p50 {format_duration(row.p50_s)}, max {format_duration(row.max_s)}",
            (ms(row.max_s), y),
            xytext=(_LABEL_OFFSET_PT, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    slowest_ms = max(ms(r.max_s) for r in rows)
    if log:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        axes.set_xscale("log")
        # The default labels are mathtext (10^2), which parse_math, off for
        # recorded names, would print as its source.
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        # Room on the right for the last label: a factor on a log axis.
        axes.set_xlim(floor_ms / 1.5, slowest_ms * 8)
        axes.set_xlabel("request duration (ms, logarithmic scale)")
    else:
        axes.set_xlim(0, max(slowest_ms, 1e-3) * 1.45)
        axes.set_xlabel("request duration (ms)")
    _legend(axes)
    return figure


def timeline_figure(data: ChartData) -> Figure:
    """Return the scenario timeline: one bar per scenario over time."""
    spans = data.timeline
    figure = _figure(len(spans), time_axis=True)
    axes = figure.add_subplot()
    _row_labels(axes, [s.label for s in spans])
    colors = [_RED if s.status == "failed" else _BLUE for s in spans]
    widths = [s.end_s - s.start_s for s in spans]
    axes.barh(range(len(spans)), widths, left=[s.start_s for s in spans], color=colors)
    for y, span in enumerate(spans):
        axes.annotate(
            f"{span.end_s - span.start_s:.3g} s",
            (span.end_s, y),
            xytext=(_LABEL_OFFSET_PT / 2, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    axes.set_xlabel(_TIME_AXIS)
    axes.set_xlim(0, _time_span(data))
    return figure


def memory_figure(data: ChartData) -> Figure:
    """Return the memory chart: RSS, heap and block peaks over time."""
    points = data.memory_points
    figure = _figure(0, floor_in=3.2, time_axis=True)
    axes = figure.add_subplot()
    times = [p.at_s for p in points]
    axes.plot(
        times,
        [p.rss_bytes / BYTES_PER_MB for p in points],
        marker="o",
        markersize=3,
        color=_BLUE,
        label="RSS (whole process)",
    )
    heap = [p for p in points if p.heap_bytes is not None]
    if heap:
        axes.plot(
            [p.at_s for p in heap],
            [(p.heap_bytes or 0) / BYTES_PER_MB for p in heap],
            marker="o",
            markersize=3,
            color=_ORANGE,
            label="Python heap (tracemalloc)",
        )
    peaks = [b for b in data.memory_blocks if b.heap_peak_bytes is not None]
    for index, block in enumerate(peaks):
        axes.hlines(
            (block.heap_peak_bytes or 0) / BYTES_PER_MB,
            block.start_s,
            block.end_s,
            color=_RED,
            linestyle="--",
            linewidth=1,
            # An underscore keeps the repeats out of the legend.
            label="heap peak inside a block" if index == 0 else "_nolegend_",
        )
    axes.set_xlabel(_TIME_AXIS)
    axes.set_xlim(0, _time_span(data))
    axes.set_ylabel("memory (MB)")
    axes.set_ylim(bottom=0)
    _legend(axes)
    return figure


def query_figure(data: ChartData) -> Figure:
    """Return the query-time chart: each shape's total, its N+1 part in red."""
    bars = data.queries
    figure = _figure(len(bars))
    axes = figure.add_subplot()
    _row_labels(axes, [f"{b.label} (n={b.count})" for b in bars])
    ys = range(len(bars))
    grouped = [b.n_plus_one_s * 1000 for b in bars]
    axes.barh(ys, grouped, color=_RED, label="in N+1 groups")
    axes.barh(
        ys, [b.other_s * 1000 for b in bars], left=grouped, color=_GREY, label="other"
    )
    axes.set_xlabel("total query time (ms)")
    axes.tick_params(axis="y", labelsize=7.5)
    _legend(axes)
    return figure
