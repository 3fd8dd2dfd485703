"""`graphstore prune`: the pruning command group; imp and topology here, the other methods in their own modules.

Every subcommand is an adapter over graphstore.jobs.prune: its options come from the job's dataclasses (where
pruning starts, the method's parameters, TrainConfig), so the CLI, the job and the tracked record agree.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import PROGRESS, job_command, show_progress
from graphstore.cli.context import console
from graphstore.jobs.base import JobSpec
from graphstore.jobs.prune import IMP, TIMP, RoundsResult

app = typer.Typer(
    name="prune",
    help="Prune trained networks (IMP, T-IMP, structured, sculpt, layers).\n\n"
    "Example: graphstore prune imp --model small-cnn --dataset digits --rounds 3",
    no_args_is_help=True,
)


def render_rounds(result: RoundsResult, _cli: dict[str, Any]) -> None:
    """One row per round: sparsity, test accuracy and the method's extra columns."""
    table = Table(title=f"{result.method} run {result.run_id} (parent run {result.parent_run_id})")
    for column in ("round", "sparsity", "test_acc", *result.columns):
        table.add_column(column, justify="right")
    for r in result.rounds:
        cells = [f"{r.metrics[c]:.4g}" if c in r.metrics else "-" for c in ("test_acc", *result.columns)]
        table.add_row(str(r.round), f"{r.sparsity:.4%}", *cells)
    console.print(table)


def command(job: JobSpec, render: Any) -> Any:
    """A prune subcommand for a job: its options, --progress, and the renderer."""
    return job_command(job, render, extras=(PROGRESS,), progress=show_progress)


app.command("imp")(command(IMP, render_rounds))
app.command("topology")(command(TIMP, render_rounds))


def register(root: typer.Typer) -> None:
    """Add the `prune` group to the root app (once; safe to call from every pruning CLI module)."""
    if any(group.typer_instance is app for group in root.registered_groups):
        return
    root.add_typer(app, name="prune")
