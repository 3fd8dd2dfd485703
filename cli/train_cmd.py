"""`graphstore train`: an adapter over graphstore.jobs.train (options from TrainParams, TrainConfig included)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import PROGRESS, job_command, list_option, show_progress
from graphstore.cli.context import console
from graphstore.jobs.train import TRAIN, TrainOutcome
from graphstore.nn.datasets import DATASETS
from graphstore.nn.models import MODELS
from graphstore.params import describe

SUMMARY_COLUMNS = ("loss", "acc", "val_loss", "val_acc", "lr", "seconds")
EXAMPLES = (
    "\n\n  graphstore train -m vgg16 --model-opt width=0.25 -d cifar10 --data-opt limit=5000 --device auto\n\n"
    "  graphstore train -m mlp --model-opt hidden=24,24 -d boolean-modular --data-opt task=reused "
    "--input-noise 0.1 --lr 0.05 --batch-size 8\n\n"
    "  graphstore train --list   (models, datasets and their options)"
)


def render(out: TrainOutcome, _cli: dict[str, Any]) -> None:
    """Per-epoch metrics table, the final test metrics, and where the checkpoints are."""
    table = Table(title=f"run {out.run_id}")
    table.add_column("epoch", justify="right")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="right")
    for epoch, m in enumerate(out.history, start=1):
        table.add_row(str(epoch), *(f"{m[k]:.4g}" if k in m else "-" for k in SUMMARY_COLUMNS))
    console.print(table)
    if "test_acc" in out.final:
        console.print(f"test accuracy {out.final['test_acc']:.4f}, test loss {out.final['test_loss']:.4f}")
    if out.saved:
        console.print(f"{len(out.saved)} checkpoint(s) in {out.saved[-1].parent} (last: {out.saved[-1].name})")


def show_registries(_ctx: typer.Context, cli: dict[str, Any]) -> bool:
    """--list: tables of models and datasets with their parameters (answers the command)."""
    if not cli.get("list_all"):
        return False

    for title, registry, flag in (("models", MODELS, "--model-opt"), ("datasets", DATASETS, "--data-opt")):
        table = Table(title=f"{title} ({flag} KEY=VALUE)")
        for column in ("name", "description", "options (default: help)"):
            table.add_column(column)
        for entry in registry.entries():
            opts = "\n".join(f"{n}={d}: {h}" for n, d, h in describe(entry.params)) or "-"
            table.add_row(entry.name, entry.summary, opts)
        console.print(table)
    return True


def register(root: typer.Typer) -> None:
    """Add `graphstore train` to the root app."""
    command = job_command(
        TRAIN,
        render,
        extras=(PROGRESS, list_option("models, datasets and their options")),
        before=show_registries,
        progress=show_progress,
    )
    command.__doc__ = f"{command.__doc__}{EXAMPLES}"
    root.command("train", no_args_is_help=False)(command)
