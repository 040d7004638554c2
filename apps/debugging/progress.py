"""Show the demo's progress: a live view on a terminal, plain lines elsewhere."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from perfprobe.report import ScenarioResult
from perfprobe.report.fmt import plural, printable


class DemoProgress:
    """Track scenarios as they start and end; use as a context manager."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self._live = console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> DemoProgress:
        if self._live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("Starting", total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def scenario_started(self, name: str, index: int, total: int) -> None:
        """Show that scenario ``index`` of ``total`` is running."""
        if self._progress is not None and self._task is not None:
            # A progress description is rich markup; a scenario's name is not.
            self._progress.update(
                self._task, description=f"Running {escape(printable(name))}"
            )
        else:
            self.console.print(
                f"[{index + 1}/{total}] {name} ...", highlight=False, markup=False
            )

    def scenario_finished(self, result: ScenarioResult) -> None:
        """Print one line with the scenario's outcome and advance the bar."""
        mark = "[green]ok[/]" if result.status == "ok" else "[red]FAILED[/]"
        line = (
            f"{mark} {escape(result.name)}: {result.duration_s:.2f} s, "
            f"{plural(result.query_count, 'query')}"
        )
        if result.error:
            error = f"{result.error['type']}: {result.error['message']}"
            line += f" ({escape(error)})"
        self.console.print(line, highlight=False)
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def say(self, text: str) -> None:
        """Print one verbose line above the live view."""
        self.console.print(f"  {printable(text)}", highlight=False, markup=False)
