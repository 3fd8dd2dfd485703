"""`graphstore prune structured`: an adapter over graphstore.jobs.prune.STRUCTURED (group-HS, 000)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli import prune_cmd
from graphstore.cli.context import console
from graphstore.jobs.prune import STRUCTURED

COLUMNS = ("loss", "val_acc", "group_hs", "units_kept", "density", "lam")


def render(run: Any, _cli: dict[str, Any]) -> None:
    """Per-epoch metrics, then kept units per layer, the final test metrics and where the checkpoints are."""
    result = run.result
    table = Table(title=f"structured run {run.run_id} (parent run {run.parent_run_id})")
    for column in ("epoch", *COLUMNS):
        table.add_column(column, justify="right")
    for i, m in enumerate(result.history, start=1):
        mark = " (pruned)" if i == result.prune_epoch else ""
        table.add_row(f"{i}{mark}", *(f"{m[k]:.4g}" if k in m else "-" for k in COLUMNS))
    console.print(table)
    units = Table(title="hidden units kept")
    for column in ("layer", "kept", "pruned"):
        units.add_column(column, justify="right")
    for layer, (kept, total) in result.units.items():
        units.add_row(layer, f"{kept}/{total}", f"{total - kept}")
    console.print(units)
    if "test_acc" in result.final:
        console.print(f"test accuracy {result.final['test_acc']:.4f}, weight density {result.final['density']:.2%}")
    if run.saved:
        console.print(f"{len(run.saved)} checkpoint(s) in {run.saved[-1].parent} (last: {run.saved[-1].name})")


def attach(group: typer.Typer) -> None:
    """Add the command to a `prune` group."""
    group.command("structured")(prune_cmd.command(STRUCTURED, render))


attach(prune_cmd.app)


def register(root: typer.Typer) -> None:
    """The command is attached to the prune group on import; this only makes sure the group is on the root."""
    prune_cmd.register(root)
