"""`graphstore noise` (noise robustness of the latent kNN graph) and `graphstore topology` (zeroth-order topology
of a checkpoint, or of every round of a pruning run). Options come from NoiseParams / TopologyReportParams via
graphstore.cli.options.cli_parameters, so the CLI and the tracking record agree; torch loads inside the commands.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from graphstore.cli.context import err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.cli.output import OutputFormat
from graphstore.errors import GraphstoreError


def _opt(name: str, annotation: Any, default: Any, *decls: str, help: str) -> inspect.Parameter:
    """A keyword-only typer option as an inspect.Parameter."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=typer.Option(default, *decls, help=help))


def _source_parameters() -> list[inspect.Parameter]:
    """ctx, the checkpoint argument and --run/--epoch/--round/--format shared by both commands."""
    return [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter("checkpoint", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str | None,
                          default=typer.Argument(None, help="Checkpoint file (.pt); or use --run.")),
        _opt("run", str | None, None, "--run", help="Run id whose checkpoint to use (default: its last epoch)."),
        _opt("epoch", int | None, None, "--epoch", help="Epoch of the run's checkpoint."),
        _opt("round_", int | None, None, "--round", help="Pruning round of the run's checkpoint."),
        _opt("fmt", OutputFormat, OutputFormat.table, "--format", "-f", help="Output format."),
    ]


def _params(cls: type, values: dict[str, Any], what: str) -> Any:
    """The dataclass from the command's values (None = the dataclass default)."""
    from graphstore.nn import params as P

    names = {f.name for f in dataclasses.fields(cls)}
    return P.from_mapping(cls, {k: v for k, v in values.items() if k in names and v is not None}, what)


def _load(ctx: typer.Context, checkpoint: str | None, run: str | None, epoch: int | None, round_: int | None
          ) -> tuple[Any, Path, Any]:
    """(settings, checkpoint path, loaded checkpoint) resolved as `graphstore ingest` does."""
    from graphstore.cli.ingest_cmd import resolve_checkpoint
    from graphstore.nn.checkpoint import load_checkpoint

    settings = settings_of(ctx)
    path = resolve_checkpoint(Path(settings.data_dir), checkpoint, run, epoch, round_)
    return settings, path, load_checkpoint(path)


def _cell(value: Any) -> Any:
    """Floats to 4 decimals for printing; NaN and None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return round(value, 4) if isinstance(value, float) else value


def _print(columns: Sequence[str], rows: list[list[Any]], fmt: OutputFormat, title: str) -> None:
    """Print rows as a table (rounded) or CSV/JSON (full precision)."""
    from graphstore.cli.output import print_result
    from graphstore.store.base import QueryResult

    shown = [[_cell(v) for v in row] for row in rows] if fmt is OutputFormat.table else rows
    print_result(QueryResult(list(columns), shown), fmt, title)



def noise_command(ctx: typer.Context, checkpoint: str | None = None, **kwargs: Any) -> None:
    """Noise robustness (003 eq. 4.1): Jaccard and CNS of the noisy latent kNN graph against p = 0, and the
    accuracy of the classifier head on the noisy latents, per noise level.

    Example: graphstore noise --run 1 --epoch 5 --p 0,0.01,0.05,0.1,0.2,0.5 --k 8 --limit 1000
    """
    from graphstore.analysis.noise import NoiseParams, noise_sweep, track_noise
    from graphstore.cli.ingest_cmd import load_data

    params = _params(NoiseParams, kwargs, "noise")
    settings, path, ckpt = _load(ctx, checkpoint, kwargs["run"], kwargs["epoch"], kwargs["round_"])
    with err_console.status(f"noise sweep on {path.name} ..."):
        data = load_data(ckpt, Path(settings.data_dir), None, {})
        rows = noise_sweep(ckpt.build_model(params.device), data, params)
    parent = ckpt.run_id if isinstance(ckpt.run_id, int) else None
    run_id = track_noise(settings.tracking_url, params, rows, f"noise-{path.stem}", parent)
    _print(("p", "jaccard", "cns", "accuracy"), [[r.p, r.jaccard, r.cns, r.accuracy] for r in rows], kwargs["fmt"],
           f"noise robustness of {path.name} (k={params.k}, {params.metric}, {params.split}; run {run_id})")


def topology_command(ctx: typer.Context, checkpoint: str | None = None, **kwargs: Any) -> None:
    """Zeroth-order topology (METHODS F): per-layer NP, normalised NP, kappa*, MST overlap and its bounds, model
    totals; with --all-rounds, one row per pruning round of a run (round, sparsity, accuracy, NP, overlap).

    Example: graphstore topology --run 2 --all-rounds --null
    """
    from graphstore.analysis.topology_report import TopologyReportParams

    params = _params(TopologyReportParams, kwargs, "topology")
    if kwargs["all_rounds"]:
        _all_rounds(ctx, checkpoint, kwargs, params)
        return
    _single(ctx, checkpoint, kwargs, params)


def _single(ctx: typer.Context, checkpoint: str | None, kwargs: dict[str, Any], params: Any) -> None:
    """One checkpoint: the layer table and the totals."""
    from graphstore.analysis.topology_report import LAYER_COLUMNS, checkpoint_topology, track_topology

    settings, path, ckpt = _load(ctx, checkpoint, kwargs["run"], kwargs["epoch"], kwargs["round_"])
    report = checkpoint_topology(ckpt, params)
    parent = ckpt.run_id if isinstance(ckpt.run_id, int) else None
    run_id = track_topology(settings.tracking_url, params, f"topology-{path.stem}", [report.totals], parent)
    fmt = kwargs["fmt"]
    _print(LAYER_COLUMNS, report.layer_rows(), fmt, f"topology of {path.name} (run {run_id})")
    _print(("total", "value"), [[k, v] for k, v in report.totals.items()], fmt, "model totals")


def _all_rounds(ctx: typer.Context, checkpoint: str | None, kwargs: dict[str, Any], params: Any) -> None:
    """Every pruning round of --run: round, epoch, sparsity, accuracy, NP, overlap, kappa*."""
    from graphstore.analysis.topology_report import ROUND_COLUMNS, rounds_table, track_topology

    if checkpoint or kwargs["run"] is None:
        raise GraphstoreError("--all-rounds reads the checkpoints of a pruning run.",
                              "Pass --all-rounds --run RUN_ID (no checkpoint path).")
    settings = settings_of(ctx)
    rows = rounds_table(settings.data_dir, kwargs["run"], params)
    run = int(kwargs["run"]) if str(kwargs["run"]).isdigit() else None
    steps = [dict(zip(ROUND_COLUMNS, row, strict=True)) for row in rows]
    run_id = track_topology(settings.tracking_url, params, f"topology-run{kwargs['run']}-rounds", steps, run)
    _print(ROUND_COLUMNS, rows, kwargs["fmt"], f"topology of run {kwargs['run']} by pruning round (run {run_id})")


def _attach() -> None:
    """Generated signatures: the source options, then the method dataclass's options."""
    from graphstore.analysis.noise import NoiseParams
    from graphstore.analysis.topology_report import TopologyReportParams

    noise_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _source_parameters() + cli_parameters(NoiseParams))
    rounds = _opt("all_rounds", bool, False, "--all-rounds", help="Tabulate every pruning round of --run.")
    topology_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        _source_parameters() + [rounds] + cli_parameters(TopologyReportParams))


_attach()


def register(root: typer.Typer) -> None:
    """Add `graphstore noise` and `graphstore topology` to the root app."""
    root.command("noise")(noise_command)
    root.command("topology")(topology_command)
