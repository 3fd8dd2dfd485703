"""Progress bars for long steps (rich), shared by every command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graphstore.cli.context import console
from graphstore.store.base import ProgressCallback


@contextmanager
def write_progress(description: str) -> Iterator[ProgressCallback]:
    """A callback for GraphStore.write_graph that drives one progress bar (rows written of total)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=f"{description}: {step}")

        yield update
