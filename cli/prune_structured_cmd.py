"""`graphstore prune structured`: one-shot structured magnitude pruning of hidden units with group-HS (000).

Options come from graphstore.pruning.structured.StructuredConfig and TrainConfig (cli_parameters), the start
options (--checkpoint | --run | --model/--dataset) from graphstore.cli.prune_cmd. With --model the network
is trained from scratch under the schedule (group-HS, prune at --prune-epoch, fine-tune); with a checkpoint
the schedule continues from its weights and the pruning run is linked to the checkpoint's run.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from rich.table import Table

from graphstore.cli import prune_cmd
from graphstore.cli.context import console, err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.cli.render import progress_bar
from graphstore.nn import params as P

EXAMPLES = (
    "Example: graphstore prune structured --model small-cnn --dataset digits --epochs 10 --prune-epoch 7 "
    "--sparsity 0.5 --lam 1e-4\n\n"
    "Example: graphstore prune structured --checkpoint runs/1/epoch_10.pt --sparsity 0.825 --epochs 5 "
    "--prune-epoch 0"
)
COLUMNS = ("loss", "val_acc", "group_hs", "units_kept", "density", "lam")


def structured_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Structured pruning: train with group-HS, prune the lowest-saliency units per layer once, fine-tune."""
    _run(ctx, **kwargs)


def _run(ctx: typer.Context, checkpoint: str | None, run: int | None, epoch: int | None, model: str | None,
         dataset: str, model_opt: list[str], data_opt: list[str], progress: bool, **values: Any) -> None:
    """Parse options, pick the start, run the tracked schedule, print the summary."""
    from graphstore.pruning.common import load_start
    from graphstore.pruning.params import StructuredConfig
    from graphstore.pruning.structured import fresh_start, run_structured

    method, config = prune_cmd.split_values(values, StructuredConfig)
    method.prune_at(config.epochs)
    settings = settings_of(ctx)
    data_params = P.parse_assignments(data_opt, "--data-opt")
    if checkpoint is not None or run is not None:
        start = load_start(settings.data_dir, checkpoint, run, epoch, data_params)
    elif model is not None:
        start = fresh_start(settings.data_dir, model, P.parse_assignments(model_opt, "--model-opt"), dataset,
                            data_params, config.seed)
    else:
        from graphstore.pruning.common import PruningError

        raise PruningError("Nothing to prune.", "Pass --checkpoint PATH, --run RUN_ID, or --model M --dataset D.")
    err_console.print(f"structured pruning of {start.model.spec.name} on {start.data.info.name}: p={method.sparsity}, "
                      f"prune after epoch {method.prune_at(config.epochs)} of {config.epochs}, lambda {method.lam}")
    with progress_bar(progress) as bar:
        result = run_structured(settings.data_dir, settings.tracking_url, method, config, start, progress=bar)
    print_summary(result)


def print_summary(run: Any) -> None:
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


def _signature() -> inspect.Signature:
    """Start options, then StructuredConfig's, then TrainConfig's."""
    from graphstore.nn.config import TrainConfig
    from graphstore.pruning.params import StructuredConfig

    params = prune_cmd.start_parameters() + cli_parameters(StructuredConfig) + cli_parameters(TrainConfig)
    return inspect.Signature(params)


structured_command.__signature__ = _signature()  # type: ignore[attr-defined]
structured_command.__doc__ = f"{structured_command.__doc__}\n\n{EXAMPLES}"


def attach(group: typer.Typer) -> None:
    """Add the command to a `prune` group."""
    group.command("structured")(structured_command)


attach(prune_cmd.app)


def register(root: typer.Typer) -> None:
    """The command is attached to the prune group on import; this only makes sure the group is on the root."""
    prune_cmd.register(root)
