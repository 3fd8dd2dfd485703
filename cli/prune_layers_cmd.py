"""`graphstore prune layers`: an adapter over graphstore.jobs.prune.LAYERS (001; docs/METHODS.md B4).

TrainConfig's step-decay `gamma` is hidden here (it keeps its default) because --gamma is the layer-pruning threshold.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli import prune_cmd
from graphstore.cli.context import console
from graphstore.jobs.prune import LAYERS, LayersResult


def render(done: LayersResult, _cli: dict[str, Any]) -> None:
    """Per gamma: threshold, removed layers, parameter count (and change), run id and test accuracy."""
    result, parent_run = done.result, done.parent_run_id
    table = Table(title=f"prune layers (parent run {parent_run}; conv layers {', '.join(result.layers)})")
    for column in ("gamma", "threshold", "removed", "parameters", "change", "run", "test_acc"):
        table.add_column(column, justify="left" if column == "removed" else "right")
    acc = result.parent_metrics.get("test_acc")
    table.add_row(
        "parent", "-", "-", f"{result.parent_parameters:,}", "-", str(parent_run), "-" if acc is None else f"{acc:.4f}"
    )
    for row in result.rows:
        sel, acc = row.selection, row.metrics.get("test_acc")
        change = row.parameters / max(1, result.parent_parameters) - 1
        table.add_row(
            f"{sel.gamma:g}",
            f"{sel.threshold:.4f}",
            ", ".join(sel.removed) or "none",
            f"{row.parameters:,}",
            f"{change:+.1%}",
            "-" if row.run_id is None else str(row.run_id),
            "-" if acc is None else f"{acc:.4f}",
        )
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add `layers` to the `prune` group (once) and the group to the root (prune_cmd.register is idempotent)."""
    if not any(c.name == "layers" for c in prune_cmd.app.registered_commands):
        prune_cmd.app.command("layers")(prune_cmd.command(LAYERS, render))
    prune_cmd.register(root)
