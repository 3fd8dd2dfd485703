"""`graphstore prune layers`: conv-layer pruning from the multilayer class network (001; docs/METHODS.md B4).

Options come from graphstore.pruning.layers.LayerPruneParams (method) and TrainConfig (retraining; its step-decay
`gamma` is left at its default because --gamma is the layer-pruning threshold), through cli_parameters.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from graphstore.cli import prune_cmd
from graphstore.cli.context import console, err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.cli.render import progress_bar
from graphstore.errors import GraphstoreError

EXAMPLES = (
    "Example: graphstore prune layers --run 1 --gamma 1.25 --epochs 5\n\n"
    "Example: graphstore prune layers --checkpoint runs/1/epoch_10.pt --sweep 0.25:2:0.25 --aggregate median\n\n"
    "Example: graphstore prune layers --model medium-cnn --dataset digits --epochs 2 --gamma 1   (trains first)\n\n"
    "Example: graphstore prune layers --run 1 --sweep 0.5,1,1.5 --no-retrain   (removed layers and sizes only)"
)


def layers_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Remove the conv layers whose class-network nodes all have delta <= gamma x mean delta, then retrain."""
    _run(ctx, **kwargs)


def _run(ctx: typer.Context, checkpoint: str | None, run: int | None, epoch: int | None, model: str | None,
         dataset: str, model_opt: list[str], data_opt: list[str], progress: bool, name: str | None, retrain: bool,
         **values: Any) -> None:
    """Parse options, find the start checkpoint, compute delta, select, rebuild, retrain, print the table."""
    from graphstore.pruning.layers import LayerPruneParams, prune_layers

    gamma = values.get("gamma")
    if gamma is not None and not gamma > 0:
        raise GraphstoreError(f"--gamma must be > 0, got {gamma:g}.",
                              "The threshold is gamma x mean (or median) delta; 001 sweeps 0.25 to 2. "
                              "Use e.g. --gamma 1, or --sweep 0.25:2:0.25.")
    params, config = prune_cmd.split_values(values, LayerPruneParams)
    settings = settings_of(ctx)
    with progress_bar(progress) as bar:
        start, _ = prune_cmd.resolve_start(ctx, params, config, checkpoint, run, epoch, model, dataset, model_opt,
                                           data_opt, bar)
        err_console.print(f"computing delta for every node of {start.model.spec.name}'s multilayer network "
                          f"({params.split} split, {params.weight} arc weights, {params.source})")
        result = prune_layers(start, params, config, settings.data_dir, settings.tracking_url, name=name,
                              progress=bar, retrain_models=retrain, on_row=_row_line)
    print_sweep(result, start.parent_run_id)


def _row_line(row: Any) -> None:
    """One progress line per gamma."""
    sel = row.selection
    acc = row.metrics.get("test_acc")
    err_console.print(f"gamma {sel.gamma:g}: threshold {sel.threshold:.4f}, removed "
                      f"{', '.join(sel.removed) or 'none'}{' (guard kept one layer)' if sel.guarded else ''}; "
                      f"{row.parameters:,} parameters; test acc {'-' if acc is None else f'{acc:.4f}'}")


def print_sweep(result: Any, parent_run: Any) -> None:
    """Per gamma: threshold, removed layers, parameter count (and change), run id and test accuracy."""
    from rich.table import Table

    table = Table(title=f"prune layers (parent run {parent_run}; conv layers {', '.join(result.layers)})")
    for column in ("gamma", "threshold", "removed", "parameters", "change", "run", "test_acc"):
        table.add_column(column, justify="left" if column == "removed" else "right")
    acc = result.parent_metrics.get("test_acc")
    table.add_row("parent", "-", "-", f"{result.parent_parameters:,}", "-", str(parent_run),
                  "-" if acc is None else f"{acc:.4f}")
    for row in result.rows:
        sel, acc = row.selection, row.metrics.get("test_acc")
        change = row.parameters / max(1, result.parent_parameters) - 1
        table.add_row(f"{sel.gamma:g}", f"{sel.threshold:.4f}", ", ".join(sel.removed) or "none",
                      f"{row.parameters:,}", f"{change:+.1%}", "-" if row.run_id is None else str(row.run_id),
                      "-" if acc is None else f"{acc:.4f}")
    console.print(table)


def _signature() -> inspect.Signature:
    """Start options, --name/--retrain, the method's options, then TrainConfig's (without its `gamma`)."""
    from graphstore.nn.config import TrainConfig
    from graphstore.pruning.params import LayerPruneParams

    kw = inspect.Parameter.KEYWORD_ONLY
    extra = [
        inspect.Parameter("name", kw, annotation=str | None, default=typer.Option(
            None, "--name", help="Run name of the retrained model (default <model>-layers-g<gamma>).")),
        inspect.Parameter("retrain", kw, annotation=bool, default=typer.Option(
            True, "--retrain/--no-retrain", help="Retrain each rebuilt model (--no-retrain: sizes only).")),
    ]
    return inspect.Signature(prune_cmd.start_parameters() + extra + cli_parameters(LayerPruneParams)
                             + cli_parameters(TrainConfig, exclude=("gamma",)))


layers_command.__signature__ = _signature()  # type: ignore[attr-defined]
layers_command.__doc__ = f"{layers_command.__doc__}\n\n{EXAMPLES}"


def register(root: typer.Typer) -> None:
    """Add `layers` to the `prune` group (once) and the group to the root (prune_cmd.register is idempotent)."""
    if not any(c.name == "layers" for c in prune_cmd.app.registered_commands):
        prune_cmd.app.command("layers")(layers_command)
    prune_cmd.register(root)
