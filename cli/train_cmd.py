"""`graphstore train`: train a registered model on a registered dataset, checkpointing and tracking the run.

The training options are generated from graphstore.nn.train.TrainConfig (one --option per field, same help
and defaults); model and dataset parameters go through --model-opt / --data-opt KEY=VALUE, checked against
the model's and dataset's parameter dataclasses (`--list` shows them all).
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from rich.table import Table

from graphstore.cli.context import console, err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.cli.render import progress_bar
from graphstore.nn import params as P

SUMMARY_COLUMNS = ("loss", "acc", "val_loss", "val_acc", "lr", "seconds")
EXAMPLE = (
    "Examples:\n\n"
    "  graphstore train --model small-cnn --dataset digits --epochs 5\n\n"
    "  graphstore train -m vgg16 --model-opt width=0.25 -d cifar10 --data-opt limit=5000 --device auto\n\n"
    "  graphstore train -m mlp --model-opt hidden=24,24 -d boolean-modular --data-opt task=reused "
    "--input-noise 0.1 --lr 0.05 --batch-size 8\n\n"
    "  graphstore train --list   (models, datasets and their options)"
)


def _train(
    ctx: typer.Context,
    model: str,
    dataset: str,
    model_opt: list[str],
    data_opt: list[str],
    name: str | None,
    list_all: bool,
    progress: bool,
    **config_values: Any,
) -> None:
    """Resolve everything, then train with checkpoints and tracking."""
    if list_all:
        show_registries()
        return
    from graphstore.nn.config import TrainConfig

    config = P.from_mapping(
        TrainConfig, {k: v for k, v in config_values.items() if v is not None}, "training"
    )
    settings = settings_of(ctx)
    run_training(
        settings.data_dir,
        settings.tracking_url,
        model,
        P.parse_assignments(model_opt, "--model-opt"),
        dataset,
        P.parse_assignments(data_opt, "--data-opt"),
        config,
        name,
        progress,
    )


def run_training(
    data_dir: Any,
    tracking_url: str | None,
    model: str,
    model_params: dict[str, Any],
    dataset: str,
    data_params: dict[str, Any],
    config: Any,
    name: str | None = None,
    progress: bool = True,
) -> Any:
    """Train as a tracked run (graphstore.nn.tracked.train_tracked), print a summary; return the TrainResult."""
    from graphstore.nn.tracked import train_tracked

    def announce(run_id: Any, net: Any, data: Any) -> None:
        err_console.print(
            f"run {run_id}: {net.spec.name} ({net.hidden_neurons()} hidden neurons) on {data.info.name} "
            f"(train {data.size('train')}, val {data.size('val')}, test {data.size('test')})"
        )

    with progress_bar(progress) as bar:
        out = train_tracked(data_dir, tracking_url, model, model_params, dataset, data_params, config, name=name,
                            on_start=announce, progress=bar)
    print_summary(out.run_id, out.result, out.saved)
    return out.result


def print_summary(run_id: Any, result: Any, saved: list) -> None:
    """Per-epoch metrics table, the final test metrics, and where the checkpoints are."""
    table = Table(title=f"run {run_id}")
    table.add_column("epoch", justify="right")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="right")
    for epoch, m in enumerate(result.history, start=1):
        table.add_row(str(epoch), *(f"{m[k]:.4g}" if k in m else "-" for k in SUMMARY_COLUMNS))
    console.print(table)
    if "test_acc" in result.final:
        console.print(
            f"test accuracy {result.final['test_acc']:.4f}, test loss {result.final['test_loss']:.4f}"
        )
    if saved:
        console.print(f"{len(saved)} checkpoint(s) in {saved[-1].parent} (last: {saved[-1].name})")


def show_registries() -> None:
    """Tables of models and datasets with their parameters."""
    from graphstore.nn.datasets import DATASETS
    from graphstore.nn.models import MODELS

    for title, registry, flag in (("models", MODELS, "--model-opt"), ("datasets", DATASETS, "--data-opt")):
        table = Table(title=f"{title} ({flag} KEY=VALUE)")
        for column in ("name", "description", "options (default: help)"):
            table.add_column(column)
        for entry in registry.entries():
            opts = "\n".join(f"{n}={d}: {h}" for n, d, h in P.describe(entry.params)) or "-"
            table.add_row(entry.name, entry.summary, opts)
        console.print(table)


def _signature() -> inspect.Signature:
    """The command's parameters: fixed ones, then one option per TrainConfig field."""
    from graphstore.nn.config import TrainConfig

    kw = inspect.Parameter.KEYWORD_ONLY
    fixed = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "model",
            kw,
            annotation=str,
            default=typer.Option(
                "small-cnn",
                "--model",
                "-m",
                help="Model name (mlp, small-cnn, medium-cnn, conv6, vgg16, resnet18).",
            ),
        ),
        inspect.Parameter(
            "dataset",
            kw,
            annotation=str,
            default=typer.Option(
                "digits",
                "--dataset",
                "-d",
                help="Dataset name (digits, mnist, fashion-mnist, cifar10, cifar100, "
                "cifar20, imagefolder, caltech101, boolean-modular).",
            ),
        ),
        inspect.Parameter(
            "model_opt",
            kw,
            annotation=list[str],
            default=typer.Option(
                [],
                "--model-opt",
                help="Model parameter KEY=VALUE (repeatable), e.g. width=0.25 or hidden=64,32.",
            ),
        ),
        inspect.Parameter(
            "data_opt",
            kw,
            annotation=list[str],
            default=typer.Option(
                [], "--data-opt", help="Dataset parameter KEY=VALUE (repeatable), e.g. size=28 or root=/data."
            ),
        ),
        inspect.Parameter(
            "name",
            kw,
            annotation=str | None,
            default=typer.Option(
                None, "--name", help="Run name in the tracking DB (default <model>-<dataset>)."
            ),
        ),
        inspect.Parameter(
            "list_all",
            kw,
            annotation=bool,
            default=typer.Option(False, "--list", help="List models, datasets and their options, then exit."),
        ),
        inspect.Parameter(
            "progress",
            kw,
            annotation=bool,
            default=typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        ),
    ]
    return inspect.Signature(fixed + cli_parameters(TrainConfig))


def train_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Train a model on a dataset; checkpoints to <data_dir>/runs/<run_id>/epoch_<k>.pt, metrics to the DB."""
    _train(ctx, **kwargs)


train_command.__signature__ = _signature()  # type: ignore[attr-defined]
train_command.__doc__ = f"{train_command.__doc__}\n\n{EXAMPLE}"


def register(root: typer.Typer) -> None:
    """Add `graphstore train` to the root app."""
    root.command("train", no_args_is_help=False)(train_command)
