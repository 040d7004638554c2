"""Tests for apps.debugging.progress: the demo's live progress view."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from apps.debugging.progress import DemoProgress
from perfprobe.report import ScenarioResult


def test_rich_markup_injection_scenario_names_show_as_written() -> None:
    """A scenario name that looks like rich markup is shown, not parsed.

    Parsed, "[/bold]" raised MarkupError from the live progress bar.
    """
    name = "[/bold] plugin [link=https://evil.example]x[/link]"
    stream = StringIO()
    console = Console(file=stream, force_terminal=True, width=200)
    with DemoProgress(console, total=1) as progress:
        progress.scenario_started(name, 0, 1)
        progress.scenario_finished(
            ScenarioResult(
                name=name,
                description="",
                status="ok",
                duration_s=0.01,
                started_at=1_700_000_000.0,
            )
        )
    assert name in stream.getvalue()
    assert "\x1b]8;" not in stream.getvalue()
