"""`graphstore prune`: the pruning command group (imp and topology here; other modules add their commands).

Other pruning modules add a command to this group and attach it, e.g. in prune_structured_cmd.py:

    from graphstore.cli import prune_cmd

    def register(root: typer.Typer) -> None:
        prune_cmd.app.command("structured")(structured_command)
        prune_cmd.register(root)          # idempotent: the group is added to the root once

Method options come from the method's parameter dataclass and training options from TrainConfig, both through
graphstore.cli.options.cli_parameters, so the CLI, the dataclass and the tracking record agree.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import typer

from graphstore.cli.context import err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.cli.render import print_rounds, progress_bar
from graphstore.nn import params as P
from graphstore.progress import ProgressCallback

app = typer.Typer(name="prune", help="Prune trained networks (IMP, T-IMP, structured, sculpt, layers).\n\n"
                  "Example: graphstore prune imp --model small-cnn --dataset digits --rounds 3",
                  no_args_is_help=True)

START_HELP = "Start from this checkpoint file (else --run, else train --model on --dataset first)."


def start_parameters() -> list[inspect.Parameter]:
    """Options naming where pruning starts: --checkpoint | --run [--epoch] | --model/--dataset (train first)."""
    kw = inspect.Parameter.KEYWORD_ONLY

    def opt(name: str, annotation: Any, default: Any, *decls: str, help: str) -> inspect.Parameter:
        return inspect.Parameter(name, kw, annotation=annotation, default=typer.Option(default, *decls, help=help))

    return [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        opt("checkpoint", str | None, None, "--checkpoint", help=START_HELP),
        opt("run", int | None, None, "--run", help="Start from this training run's checkpoint (see --epoch)."),
        opt("epoch", int | None, None, "--epoch", help="Epoch of --run's checkpoint (default: its last)."),
        opt("model", str | None, None, "--model", "-m", help="Train this model from scratch first (no checkpoint)."),
        opt("dataset", str, "digits", "--dataset", "-d", help="Dataset for --model."),
        opt("model_opt", list[str], [], "--model-opt", help="Model parameter KEY=VALUE (repeatable)."),
        opt("data_opt", list[str], [], "--data-opt", help="Dataset parameter KEY=VALUE (repeatable)."),
        opt("progress", bool, True, "--progress/--no-progress", help="Show training progress bars."),
    ]


def split_values(values: dict[str, Any], method_cls: type) -> tuple[Any, Any]:
    """(method params, TrainConfig) from the command's keyword values (None = the dataclass default)."""
    from graphstore.nn.config import TrainConfig

    names = {f.name for f in dataclasses.fields(method_cls)}
    given = {k: v for k, v in values.items() if v is not None}
    method = P.from_mapping(method_cls, {k: v for k, v in given.items() if k in names}, f"prune {method_cls.__name__}")
    config = P.from_mapping(TrainConfig, {k: v for k, v in given.items() if k not in names}, "training")
    return method, config


def resolve_start(ctx: typer.Context, params: Any, config: Any, checkpoint: str | None, run: int | None,
                  epoch: int | None, model: str | None, dataset: str, model_opt: list[str], data_opt: list[str],
                  progress: ProgressCallback | None) -> tuple[Any, Any]:
    """(Start, rewind state or None): load the checkpoint / run, or train --model on --dataset first."""
    from graphstore.pruning.common import PruningError, load_start, train_start

    settings = settings_of(ctx)
    data_params = P.parse_assignments(data_opt, "--data-opt")
    if checkpoint is not None or run is not None:
        return load_start(settings.data_dir, checkpoint, run, epoch, data_params), None
    if model is None:
        raise PruningError("Nothing to prune.", "Pass --checkpoint PATH, --run RUN_ID, or --model M --dataset D.")
    keep = params.rewind_epoch if getattr(params, "rewind", None) == "epoch" else None
    return train_start(settings.data_dir, settings.tracking_url, model, P.parse_assignments(model_opt, "--model-opt"),
                       dataset, data_params, config, keep, progress)


def round_line(record: Any, total: int) -> None:
    """One progress line per finished round."""
    acc = record.metrics.get("test_acc")
    extra = f", NP {record.metrics['np']:.4g}" if "np" in record.metrics else ""
    err_console.print(f"round {record.round}/{total}: sparsity {record.sparsity:.2%}, test acc "
                      f"{'-' if acc is None else f'{acc:.4f}'}{extra}")


def _run_method(method: str, ctx: typer.Context, checkpoint: str | None, run: int | None, epoch: int | None,
                model: str | None, dataset: str, model_opt: list[str], data_opt: list[str], progress: bool,
                **values: Any) -> None:
    """Parse options, find the start, run IMP or T-IMP round by round, print the round table."""
    from graphstore.pruning import ImpParams, TopologyImpParams
    from graphstore.pruning.imp import run_imp
    from graphstore.pruning.topology import run_topology

    cls, fn = (ImpParams, run_imp) if method == "imp" else (TopologyImpParams, run_topology)
    params, config = split_values(values, cls)
    settings = settings_of(ctx)
    with progress_bar(progress) as bar:
        start, rewind_to = resolve_start(ctx, params, config, checkpoint, run, epoch, model, dataset, model_opt,
                                         data_opt, bar)
        result = fn(start, params, config, settings.data_dir, settings.tracking_url, progress=bar,
                    rewind_to=rewind_to, on_round=lambda rec: round_line(rec, params.rounds))
    columns = ("test_loss", "np", "overlap") if params.track_topology else ("test_loss",)
    print_rounds(result.rounds, f"{method} run {result.run_id} (parent run {start.parent_run_id})", columns)


def _signature(method_cls: type) -> inspect.Signature:
    """Start options, then the method dataclass's options, then TrainConfig's."""
    from graphstore.nn.config import TrainConfig

    return inspect.Signature(start_parameters() + cli_parameters(method_cls) + cli_parameters(TrainConfig))


def imp_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Iterative magnitude pruning (lottery tickets): train, prune p of the survivors by |w|, rewind, repeat."""
    _run_method("imp", ctx, **kwargs)


def topology_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Topology-preserving IMP (T-IMP): like imp, but each layer's maximum spanning tree is always kept."""
    _run_method("topology", ctx, **kwargs)


def _attach() -> None:
    """Give the two commands their generated signatures and examples, and add them to the group."""
    from graphstore.pruning import ImpParams, TopologyImpParams

    for fn, cls, name in ((imp_command, ImpParams, "imp"), (topology_command, TopologyImpParams, "topology")):
        fn.__signature__ = _signature(cls)  # type: ignore[attr-defined]
        fn.__doc__ = (f"{fn.__doc__}\n\nExample: graphstore prune {name} --model small-cnn --dataset digits "
                      f"--rounds 5 --rate 0.2 --epochs 3\n\nExample: graphstore prune {name} --run 1 --rewind epoch "
                      f"--rewind-epoch 1")
        app.command(name)(fn)


_attach()


def register(root: typer.Typer) -> None:
    """Add the `prune` group to the root app (once; safe to call from every pruning CLI module)."""
    if any(group.typer_instance is app for group in root.registered_groups):
        return
    root.add_typer(app, name="prune")
