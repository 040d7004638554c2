"""Test the report's chart figures (``perfprobe.report.chartfigures``) as drawn."""

from __future__ import annotations

import pytest

from perfprobe.report.chartfigures import latency_figure


@pytest.mark.parametrize("durations", [(0.0012,), (0.0012, 0.0015, 0.0031)])
def test_latency_labels_start_clear_of_the_p50_dot(
    durations: tuple[float, ...],
) -> None:
    """The label beside an endpoint's line is not drawn under its p50 dot.

    With one request (or the p50 at the slowest) the dot sits where the label
    starts: the label's "p" was hidden under it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.text import Annotation

    from perfprobe.report.chartdata import ChartData, LatencyRow

    slowest = max(durations)
    row = LatencyRow(
        "GET /x/", len(durations), min(durations), slowest, slowest, slowest, slowest
    )
    data = ChartData(None, (row,), (), (), (), (), 0, 1)
    figure = latency_figure(data)
    renderer = FigureCanvasAgg(figure).get_renderer()
    (axes,) = figure.axes
    (dot,) = [
        c
        for c in axes.collections
        if isinstance(c, PathCollection) and c.get_label() == "p50"
    ]
    (label,) = [t for t in axes.texts if isinstance(t, Annotation)]
    centre_x = axes.transData.transform(dot.get_offsets()[0])[0]
    radius_px = (dot.get_sizes()[0] ** 0.5) / 2 * figure.dpi / 72
    glyphs = label.get_window_extent(renderer)
    # The page's SVG keeps text as text, whose leading spaces browsers drop.
    assert label.get_text().startswith("p50 ")
    assert glyphs.x0 >= centre_x + radius_px, (glyphs.x0, centre_x, radius_px)
