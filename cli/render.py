"""Rendering of library results and progress for the CLI (rich lives here, never under graphstore/nn or pruning)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from graphstore.cli.context import console, err_console
from graphstore.progress import ProgressCallback


@contextmanager
def progress_bar(show: bool = True) -> Iterator[ProgressCallback | None]:
    """A graphstore.progress callback drawing one bar on stderr (None when not shown)."""
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("", total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, description=step)

        yield update


def print_rounds(rounds: Sequence[Any], title: str, columns: tuple[str, ...] = ()) -> None:
    """A table of pruning rounds: round, sparsity, test accuracy (and extra metric columns)."""
    table = Table(title=title)
    for column in ("round", "sparsity", "test_acc", *columns):
        table.add_column(column, justify="right")
    for r in rounds:
        cells = [f"{r.metrics[c]:.4g}" if c in r.metrics else "-" for c in ("test_acc", *columns)]
        table.add_row(str(r.round), f"{r.sparsity:.4%}", *cells)
    console.print(table)
