"""`graphstore modules`: detect modules in a sculpted MLP and score them against the task's ground truth (METHODS E).

Options come from graphstore.analysis.modules.ModuleParams (cli_parameters); the run is recorded in the tracking DB
as kind "analysis-modules" with the parameters and a `success` metric (when the task has a ground truth).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from graphstore.cli.context import console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.errors import GraphstoreError
from graphstore.nn import params as P

EXAMPLES = (
    "Example: graphstore modules --run 12\n\n"
    "Example: graphstore modules data/runs/12/round_21_epoch_60.pt --merge-in 0.8"
)


def modules_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Detect modules per level in a sculpted MLP checkpoint; compare with the Boolean task's ground truth."""
    _run(ctx, **kwargs)


def _run(ctx: typer.Context, checkpoint: str | None, run: str | None, epoch: int | None, round: int | None,
         name: str | None, **values: Any) -> None:
    """Resolve the checkpoint, detect and score modules, print them, record a tracked run."""
    from graphstore.analysis.modules import ModuleParams, analyse_checkpoint
    from graphstore.tracking import open_tracking

    params = P.from_mapping(ModuleParams, {k: v for k, v in values.items() if v is not None}, "modules")
    settings = settings_of(ctx)
    path = resolve(settings.data_dir, checkpoint, run, epoch, round)
    label = name or f"modules-{path.parent.name}-{path.stem}"
    with open_tracking(settings.tracking_url) as tracking, tracking.tracked_run("analysis-modules", label,
                                                                                 params) as run_id:
        result = analyse_checkpoint(path, params)
        metrics = {"levels": float(len(result.modules_per_level)), "modules": float(len(result.modules))}
        if result.success is not None:
            metrics["success"] = float(result.success)
        tracking.log_metrics(run_id, 0, metrics)
    show(result, path, run_id)


def resolve(data_dir: Path, checkpoint: str | None, run: str | None, epoch: int | None, round: int | None) -> Path:
    """The checkpoint path: given directly, or found by run id (and epoch / round)."""
    from graphstore.nn.checkpoint import find_checkpoint

    if checkpoint and run:
        raise GraphstoreError("Give a checkpoint path or --run, not both.", "Drop one of them.")
    if checkpoint:
        return Path(checkpoint)
    if run is None:
        raise GraphstoreError("No checkpoint given.", "Pass a checkpoint path, or --run RUN_ID (of a "
                              "`graphstore prune sculpt` run) [--epoch K --round R].")
    return find_checkpoint(data_dir, run, epoch, round)


def show(result: Any, path: Path, run_id: int) -> None:
    """Modules table, per-level counts against the ground truth, and the verdict."""
    table = Table(title=f"modules of {path.name} (run {run_id}), pruned arch {result.arch}")
    for column in ("level", "inputs", "units (layer:index)"):
        table.add_column(column)
    for m in result.modules:
        table.add_row(str(m.level), ",".join(map(str, m.inputs)) or "-",
                      " ".join(f"{la}:{i}" for la, i in m.units))
    console.print(table)
    console.print(f"detected modules per level: {result.modules_per_level}")
    if result.success is None:
        console.print("no ground truth (not a boolean-modular checkpoint): nothing scored")
        return
    console.print(f"ground truth: {result.ground_truth}, level-1 input sets {result.truth_inputs}")
    verdict = "[green]success[/]" if result.success else "[red]failure[/]: " + "; ".join(result.reasons)
    console.print(f"result: {verdict}", highlight=False)


def _signature() -> inspect.Signature:
    """CHECKPOINT, --run, --epoch, --round, --name, then one option per ModuleParams field."""
    from graphstore.analysis.modules import ModuleParams

    kw = inspect.Parameter.KEYWORD_ONLY

    def opt(name: str, kind: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, kw, annotation=kind, default=default)

    fixed = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter("checkpoint", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str | None,
                          default=typer.Argument(None, help="Checkpoint file (.pt) of a sculpted MLP.")),
        opt("run", str | None, typer.Option(None, "--run", help="Run id whose checkpoint to read (instead of "
                                                                 "a path).")),
        opt("epoch", int | None, typer.Option(None, "--epoch", help="Epoch of the checkpoint (default: last).")),
        opt("round", int | None, typer.Option(None, "--round", help="Pruning round of the checkpoint.")),
        opt("name", str | None, typer.Option(None, "--name", help="Run name in the tracking DB.")),
    ]
    return inspect.Signature(fixed + cli_parameters(ModuleParams))


modules_command.__signature__ = _signature()  # type: ignore[attr-defined]
modules_command.__doc__ = f"{modules_command.__doc__}\n\n{EXAMPLES}"


def register(root: typer.Typer) -> None:
    """Add `graphstore modules` to the root app."""
    root.command("modules")(modules_command)
