"""Progress of a running job on stderr (rich): one bar per step label, and a status line for short waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from graphstore.cli.context import err_console
from graphstore.progress import ProgressCallback, no_progress

Status = Callable[[str], None]


@contextmanager
def job_progress(show: bool = True) -> Iterator[tuple[ProgressCallback, Status, Status]]:
    """(progress, status, note) callbacks for a JobContext: a bar per step label ('writing g1' of 'writing g1:
    nodes'), status lines on a terminal only, notes always (on stderr)."""
    if not show:
        yield no_progress, lambda text: None, note
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bars:
        tasks: dict[str, TaskID] = {}

        def update(step: str, done: int, total: int) -> None:
            label = step.split(":", 1)[0]
            if label not in tasks:
                tasks[label] = bars.add_task(step, total=total or None)
            bars.update(tasks[label], completed=done, total=total or None, description=step)

        def status(text: str) -> None:
            if bars.console.is_terminal:
                bars.console.print(f"[dim]{text}[/]", highlight=False)

        def keep(text: str) -> None:
            bars.console.print(text, highlight=False, markup=False)

        yield update, status, keep


def note(text: str) -> None:
    """A line worth keeping (one per round or step), on stderr."""
    err_console.print(text, highlight=False, markup=False)
