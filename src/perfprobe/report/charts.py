"""Draw the HTML report's charts with matplotlib, as SVG to inline in the page.

matplotlib is optional (the ``report`` extra). Charts are drawn through the
object-oriented API, never ``pyplot``, so no GUI backend or global figure
list is involved; the SVG carries its text as ``<text>`` elements, which
matplotlib escapes, and loads nothing.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..failures import log_failure
from .chartdata import ChartData
from .chartfigures import (
    latency_figure,
    log_latency_axis,
    memory_figure,
    query_figure,
    timeline_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger("perfprobe.report")

#: How to get matplotlib, for messages to people who lack it.
INSTALL_HINT = "pip install 'django-perfprobe[report]'"

# rcParams are process-wide: the lock keeps two report renders from changing
# them under each other. rc_context restores them afterwards.
_lock = threading.Lock()
_RC: dict[Any, Any] = {
    # A "$" pair in a recorded name would otherwise start mathtext, which can
    # fail on it; every label is drawn as written.
    "text.parse_math": False,
    # Text as <text> elements: selectable, searchable, and smaller than one
    # path per glyph, whose shared glyph ids would clash between charts.
    "svg.fonttype": "none",
    # A fresh random salt per figure keeps clip-path and marker ids of
    # different charts in one page apart.
    "svg.hashsalt": None,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.35,
}
# Without these the SVG names matplotlib's web site and the drawing date.
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class Chart:
    """One chart for the page: its heading, caption and SVG, or why it is empty."""

    title: str
    caption: str
    svg: str | None
    empty_note: str


def charts_available() -> bool:
    """Return whether matplotlib can be imported to draw charts."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = buffer.getvalue()
    # The XML prologue and doctype mean nothing inside HTML, and the HTML
    # parser puts <svg> in the SVG namespace without declarations.
    svg = text[text.index("<svg") :]
    for declaration in (
        ' xmlns:xlink="http://www.w3.org/1999/xlink"',
        ' xmlns="http://www.w3.org/2000/svg"',
    ):
        svg = svg.replace(declaration, "", 1)
    return svg.strip()


def _latency_caption(data: ChartData) -> str:
    shown = (
        f"the {len(data.latency)} of {data.endpoints} endpoints that took the most time"
        if data.endpoints > len(data.latency)
        else "each endpoint"
    )
    scale = (
        " The axis is logarithmic (each step is ten times the last), so that "
        "fast endpoints stay visible beside slow ones."
        if log_latency_axis(data)
        else ""
    )
    return (
        f"Request durations of {shown}: the line spans the fastest to the "
        "slowest request, the marks are the p50, p95 and p99, and the label "
        f"gives the p50 and the slowest.{scale}"
    )


def _query_caption(data: ChartData) -> str:
    shown = (
        f"the {len(data.queries)} of {data.query_shapes} query shapes that took "
        "the most time"
        if data.query_shapes > len(data.queries)
        else "every query shape"
    )
    return (
        f"Total time of {shown}; the red part ran in N+1 groups. Full "
        "fingerprints are in the Queries table."
    )


@dataclass(frozen=True)
class _Spec:
    title: str
    caption: Callable[[ChartData], str]
    empty_note: str
    has_data: Callable[[ChartData], bool]
    draw: Callable[[ChartData], Figure]
    #: Left out of the page when it has no data, rather than kept with its
    #: note: scenarios exist only in a demo (or user) run of scenarios.
    optional: bool = False


_SPECS = (
    _Spec(
        "Scenario timeline",
        lambda d: "When each scenario started and ended; red bars failed.",
        "No data: the report has no scenarios.",
        lambda d: bool(d.timeline),
        timeline_figure,
        optional=True,
    ),
    _Spec(
        "Endpoint latency",
        _latency_caption,
        "No data: no requests were monitored.",
        lambda d: bool(d.latency),
        latency_figure,
    ),
    _Spec(
        "Memory over time",
        lambda d: (
            "Process RSS and Python heap at every checkpoint and at the start "
            "and end of every memory block; a dashed line is the heap peak a "
            "block reached at some moment within its span."
        ),
        "No data: no memory checkpoints or blocks were recorded.",
        lambda d: bool(d.memory_points),
        memory_figure,
    ),
    _Spec(
        "Query time by shape",
        _query_caption,
        "No data: no queries were recorded.",
        lambda d: bool(d.queries),
        query_figure,
    ),
)


def _draw(spec: _Spec, data: ChartData) -> Chart:
    caption = spec.caption(data)
    if not spec.has_data(data):
        return Chart(spec.title, caption, None, spec.empty_note)
    try:
        return Chart(spec.title, caption, _svg(spec.draw(data)), "")
    except Exception:
        # One chart that cannot be drawn must not cost the rest of the page.
        log_failure(logger, "chart", "perfprobe failed to draw chart %r", spec.title)
        return Chart(
            spec.title, caption, None, "This chart could not be drawn; see the log."
        )


def draw_charts(data: ChartData) -> list[Chart]:
    """Return every chart of ``data``, each drawn as SVG or with a no-data note.

    Raise ``ImportError`` naming the extra to install when matplotlib is not
    installed.
    """
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            f"the report's charts need matplotlib, which is not installed: "
            f"{INSTALL_HINT}",
            name="matplotlib",
        ) from error

    with _lock, matplotlib.rc_context(_RC), warnings.catch_warnings():
        # A recorded name in a script the font lacks draws as boxes, which
        # is no reason to warn (or, under -W error, to fail).
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        return [
            _draw(spec, data)
            for spec in _SPECS
            if not (spec.optional and not spec.has_data(data))
        ]
