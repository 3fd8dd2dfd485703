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


def _score(metrics: dict[str, float], key: str, digits: int = 4) -> str:
    """A metric formatted to `digits` decimals, or '-' when missing."""
    value = metrics.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def render(done: LayersResult, _cli: dict[str, Any]) -> None:
    """Per gamma: threshold, removed layers, parameters (and change), run id, test accuracy, macro precision and
    recall, mean epoch time."""
    result, parent_run = done.result, done.parent_run_id
    single = any(row.selection.mode == "single" for row in result.rows)
    how = "single-layer selection (001 Table 1 's')" if single else "multilayer selection"
    table = Table(title=f"prune layers, {how} (parent run {parent_run}; conv layers {', '.join(result.layers)})")
    columns = ("gamma", "threshold", "removed", "parameters", "change", "run", "test_acc", "precision", "recall")
    for column in (*columns, "epoch s"):
        table.add_column(column, justify="left" if column == "removed" else "right")
    parent = result.parent_metrics
    table.add_row(
        "parent",
        "-",
        "-",
        f"{result.parent_parameters:,}",
        "-",
        str(parent_run),
        *(_score(parent, k) for k in ("test_acc", "test_precision", "test_recall")),
        "-",
    )
    for row in result.rows:
        sel, metrics = row.selection, row.metrics
        change = row.parameters / max(1, result.parent_parameters) - 1
        table.add_row(
            f"{sel.gamma:g}",
            f"{sel.threshold:.4f}",
            ", ".join(sel.removed) or "none",
            f"{row.parameters:,}",
            f"{change:+.1%}",
            "-" if row.run_id is None else str(row.run_id),
            *(_score(metrics, k) for k in ("test_acc", "test_precision", "test_recall")),
            _score(metrics, "epoch_seconds", 2),
        )
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add `layers` to the `prune` group (once) and the group to the root (prune_cmd.register is idempotent)."""
    if not any(c.name == "layers" for c in prune_cmd.app.registered_commands):
        prune_cmd.app.command("layers")(prune_cmd.command(LAYERS, render))
    prune_cmd.register(root)
