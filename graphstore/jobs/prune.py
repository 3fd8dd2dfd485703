"""Pruning jobs, one per method: where pruning starts, the method's parameters, and (where it trains) TrainConfig.

Every method starts the same way (PruneStart): a checkpoint (a file, or --run [--epoch | --round]), or a model
trained from scratch on a dataset first. Each method's dataclass is nested as `method`, TrainConfig as `train`, so
the CLI options, the tracked record and the experiments that compose these jobs all read the same fields.
The methods that train in one loop (imp, topology, structured) take `--nproc N` like `graphstore train`
(graphstore.jobs.launch): N torchrun processes, rank 0 alone tracks and writes, every rank applies rank 0's masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.launch import distributable, nproc_field
from graphstore.jobs.prune_foreign import is_foreign, registry_only, run_foreign_rounds
from graphstore.jobs.source import CheckpointSource
from graphstore.jobs.train import ModelChoice
from graphstore.nn import distributed
from graphstore.nn.config import TrainConfig
from graphstore.params import parse_assignments
from graphstore.pruning.common import PruningError, RoundRecord, Start, load_start, train_start
from graphstore.pruning.imp import run_imp
from graphstore.pruning.layers import LayerPruneResult, SweepRow, prune_layers
from graphstore.pruning.params import ImpParams, LayerPruneParams, SculptConfig, StructuredConfig, TopologyImpParams
from graphstore.pruning.sculpt import SculptRun, Step, run_sculpt
from graphstore.pruning.structured import StructuredRun, fresh_start, run_structured
from graphstore.pruning.topology import run_topology


@dataclass(frozen=True)
class StartModel(ModelChoice):
    """The model to train from scratch when no checkpoint is given (no default model: a checkpoint is the norm)."""

    model: str | None = field(
        default=None,
        metadata={  # type: ignore[assignment]
            "help": "Train this registry model from scratch first (no checkpoint); or, for imp and topology, "
            "MODULE:CALLABLE building any network (e.g. torchvision.models:resnet18) with --weights.",
            "flags": ("--model", "-m"),
        },
    )
    dataset: str = field(
        default="digits",
        metadata={
            "help": "Dataset for --model: a registry name; with --model MODULE:CALLABLE also a torchvision class "
            "(MNIST --data-opt root=DIR, torchvision.datasets:FakeData) or MODULE:CALLABLE returning a Dataset.",
            "flags": ("--dataset", "-d"),
        },
    )
    weights: str | None = field(
        default=None,
        metadata={"help": "Trained weights of a --model MODULE:CALLABLE: a state dict, TorchScript or .pt2 archive."},
    )
    init_weights: str | None = field(
        default=None,
        metadata={"help": "The weights training of --weights started from (theta_0), for --rewind init."},
    )


@dataclass(frozen=True)
class PruneStart:
    """Where pruning starts: a checkpoint, or --model trained on --dataset first."""

    source: CheckpointSource = field(default_factory=CheckpointSource)
    choice: StartModel = field(default_factory=StartModel)


def resolve_start(
    context: JobContext, start: PruneStart, config: TrainConfig, keep_epoch: int | None = None, method: str = "imp"
) -> tuple[Start, Any]:
    """(Start, rewind state or None): load the checkpoint, or train --model on --dataset as the parent run; a
    foreign --model is refused for `method` (imp and topology take it before they get here)."""
    registry_only(start.choice, method)
    settings, data_params = context.settings, parse_assignments(start.choice.data_opt, "--data-opt")
    if start.source.given:
        path = start.source.resolve(settings.data_dir)
        with distributed.lead_first():  # under torchrun rank 0 loads (and caches) the data first
            return load_start(settings.data_dir, checkpoint=path, data_params=data_params), None
    if start.choice.model is None:
        raise PruningError("Nothing to prune.", "Pass a checkpoint path, --run RUN_ID, or --model M --dataset D.")
    return train_start(
        settings.data_dir,
        settings.tracking_url,
        start.choice.model,
        parse_assignments(start.choice.model_opt, "--model-opt"),
        start.choice.dataset,
        data_params,
        config,
        keep_epoch,
        context.progress,
    )


def model_name(start: Start) -> str:
    """The registry name of the start's model (graphstore models carry their ModelSpec)."""
    return str(getattr(start.model, "spec").name)  # noqa: B009 - nn.Module's type does not know graphstore's spec


@dataclass(frozen=True)
class RetrainedPruning:
    """What every retraining pruning job shares: where it starts, how it retrains, on how many processes."""

    start: PruneStart = field(default_factory=PruneStart)
    train: TrainConfig = field(default_factory=TrainConfig)
    nproc: int = nproc_field()


@dataclass(frozen=True)
class ImpJobParams(RetrainedPruning):
    """Iterative magnitude pruning (lottery tickets): train, prune p of the survivors by |w|, rewind, repeat."""

    method: ImpParams = field(default_factory=ImpParams)


@dataclass(frozen=True)
class TopologyImpJobParams(RetrainedPruning):
    """Topology-preserving IMP (T-IMP): like imp, but each layer's maximum spanning tree is always kept."""

    method: TopologyImpParams = field(default_factory=TopologyImpParams)


@dataclass
class RoundsResult:
    """A round-by-round pruning run: its id, the parent run, and one record per round (0 = the start)."""

    method: str
    run_id: Any
    parent_run_id: int | None
    rounds: list[RoundRecord]
    columns: tuple[str, ...]


def _round_note(context: JobContext, total: int) -> Any:
    """One line per finished round."""

    def note(record: RoundRecord) -> None:
        acc = record.metrics.get("test_acc")
        extra = f", NP {record.metrics['np']:.4g}" if "np" in record.metrics else ""
        context.note(
            f"round {record.round}/{total}: sparsity {record.sparsity:.2%}, test acc "
            f"{'-' if acc is None else f'{acc:.4f}'}{extra}"
        )

    return note


def _rounds(method: str, fn: Any, context: JobContext, params: Any) -> RoundsResult:
    """IMP or T-IMP from the resolved start."""
    keep = params.method.rewind_epoch if params.method.rewind == "epoch" else None
    start, rewind_to = resolve_start(context, params.start, params.train, keep, method)
    run = fn(
        start,
        params.method,
        params.train,
        context.settings.data_dir,
        context.settings.tracking_url,
        progress=context.progress,
        rewind_to=rewind_to,
        on_round=_round_note(context, params.method.rounds),
    )
    columns = ("test_loss", "np", "overlap") if params.method.track_topology else ("test_loss",)
    return RoundsResult(method, run.run_id, start.parent_run_id, list(run.rounds), columns)


def _foreign(method: str, context: JobContext, params: Any) -> RoundsResult:
    """IMP or T-IMP of a --model MODULE:CALLABLE with --weights (graphstore.jobs.prune_foreign)."""
    run = run_foreign_rounds(context, params, _round_note(context, params.method.rounds))
    columns = ("test_loss", "np", "overlap") if method == "topology" else ("test_loss",)
    return RoundsResult(method, run.run_id, None, run.rounds, columns)


@distributable
def _imp_rounds(context: JobContext, params: ImpJobParams) -> RoundsResult:
    """IMP rounds of a registry model (under torchrun with --nproc N)."""
    return _rounds("imp", run_imp, context, params)


@distributable
def _topology_rounds(context: JobContext, params: TopologyImpJobParams) -> RoundsResult:
    """T-IMP rounds of a registry model (under torchrun with --nproc N)."""
    return _rounds("topology", run_topology, context, params)


def run_imp_job(context: JobContext, params: ImpJobParams) -> RoundsResult:
    """IMP rounds, tracked (one metrics step and one checkpoint per round); --nproc N trains under torchrun; a
    --model MODULE:CALLABLE with --weights prunes any network (one process)."""
    if is_foreign(params.start.choice):
        return _foreign("imp", context, params)
    return _imp_rounds(context, params)


def run_topology_job(context: JobContext, params: TopologyImpJobParams) -> RoundsResult:
    """T-IMP rounds, tracked like IMP; --nproc N trains under torchrun; any network as for imp."""
    if is_foreign(params.start.choice):
        return _foreign("topology", context, params)
    return _topology_rounds(context, params)


@dataclass(frozen=True)
class StructuredJobParams(RetrainedPruning):
    """Structured pruning: train with group-HS, prune the lowest-saliency units per layer once, fine-tune."""

    method: StructuredConfig = field(default_factory=StructuredConfig)


@distributable
def run_structured_job(context: JobContext, params: StructuredJobParams) -> StructuredRun:
    """The group-HS schedule from a checkpoint, or from a fresh model (000 trains with group-HS from scratch);
    --nproc N trains under torchrun."""
    method, config, settings = params.method, params.train, context.settings
    prune_epoch = method.prune_at(config.epochs)
    registry_only(params.start.choice, "structured")
    if params.start.source.given:
        start, _ = resolve_start(context, params.start, config, method="structured")
    elif params.start.choice.model is not None:
        choice, model = params.start.choice, params.start.choice.model
        with distributed.lead_first():  # under torchrun rank 0 loads (and caches) the data first
            start = fresh_start(
                settings.data_dir,
                model,
                parse_assignments(choice.model_opt, "--model-opt"),
                choice.dataset,
                parse_assignments(choice.data_opt, "--data-opt"),
                config.seed,
            )
    else:
        raise PruningError("Nothing to prune.", "Pass a checkpoint path, --run RUN_ID, or --model M --dataset D.")
    context.note(
        f"structured pruning of {model_name(start)} on {start.data.info.name}: p={method.sparsity}, "
        f"prune after epoch {prune_epoch} of {config.epochs}, lambda {method.lam}"
    )
    return run_structured(settings.data_dir, settings.tracking_url, method, config, start, progress=context.progress)


@dataclass(frozen=True)
class LayersJobParams:
    """Remove the conv layers whose class-network nodes all have delta <= gamma x mean delta, then retrain (001)."""

    start: PruneStart = field(default_factory=PruneStart)
    name: str | None = field(
        default=None, metadata={"help": "Run name of the retrained model (default <model>-layers-g<gamma>)."}
    )
    retrain: bool = field(default=True, metadata={"help": "Retrain each rebuilt model (--no-retrain: sizes only)."})
    method: LayerPruneParams = field(default_factory=LayerPruneParams)
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"exclude": ("gamma",)})


@dataclass
class LayersResult:
    """The sweep and the run it started from."""

    result: LayerPruneResult
    parent_run_id: int | None


def run_layers_job(context: JobContext, params: LayersJobParams) -> LayersResult:
    """delta once, then per gamma: select, rebuild, count parameters, retrain."""
    start, _ = resolve_start(context, params.start, params.train, method="layers")
    method = params.method
    context.note(
        f"computing delta for every node of {model_name(start)}'s multilayer network "
        f"({method.split} split, {method.weight} arc weights, {method.source}; {method.mode} selection)"
    )

    def row_note(row: SweepRow) -> None:
        sel, acc = row.selection, row.metrics.get("test_acc")
        context.note(
            f"gamma {sel.gamma:g}: threshold {sel.threshold:.4f}, removed "
            f"{', '.join(sel.removed) or 'none'}{' (guard kept one layer)' if sel.guarded else ''}; "
            f"{row.parameters:,} parameters; test acc {'-' if acc is None else f'{acc:.4f}'}"
        )

    result = prune_layers(
        start,
        method,
        params.train,
        context.settings.data_dir,
        context.settings.tracking_url,
        name=params.name,
        progress=context.progress,
        retrain_models=params.retrain,
        on_row=row_note,
    )
    return LayersResult(result, start.parent_run_id)


@dataclass(frozen=True)
class SculptJobParams:
    """Neural sculpting: prune units by loss sensitivity, then edges by |w|, while accuracy stays >= threshold."""

    name: str | None = field(default=None, metadata={"help": "Run name in the tracking DB."})
    method: SculptConfig = field(default_factory=SculptConfig)


def run_sculpt_job(context: JobContext, params: SculptJobParams) -> SculptRun:
    """Sculpt an MLP on its Boolean task as a tracked run; one note per pruning step."""

    def step_note(step: Step) -> None:
        verdict = "accepted" if step.accepted else "rejected"
        what = "dense training" if step.phase == "dense" else f"{step.phase} step {step.size} (P={step.p:g})"
        context.note(
            f"step {step.index}: {what}: acc {step.acc:.4f}, density {step.density:.2%}, "
            f"{step.units_kept} units, {verdict}"
        )

    return run_sculpt(context.settings.data_dir, context.settings.tracking_url, params.method, params.name, step_note)


IMP = JobSpec(
    "prune-imp",
    ImpJobParams.__doc__ or "",
    ImpJobParams,
    run_imp_job,
    "graphstore prune imp --model small-cnn --dataset digits --rounds 5 --rate 0.2 --epochs 3",
)
TIMP = JobSpec(
    "prune-topology",
    TopologyImpJobParams.__doc__ or "",
    TopologyImpJobParams,
    run_topology_job,
    "graphstore prune topology --run 1 --rewind epoch --rewind-epoch 1",
)
STRUCTURED = JobSpec(
    "prune-structured",
    StructuredJobParams.__doc__ or "",
    StructuredJobParams,
    run_structured_job,
    "graphstore prune structured --model small-cnn --dataset digits --epochs 10 --prune-epoch 7 "
    "--sparsity 0.5 --lam 1e-4",
)
LAYERS = JobSpec(
    "prune-layers",
    LayersJobParams.__doc__ or "",
    LayersJobParams,
    run_layers_job,
    "graphstore prune layers --run 1 --sweep 0.25:2:0.25 --aggregate median",
)
SCULPT = JobSpec(
    "prune-sculpt",
    SculptJobParams.__doc__ or "",
    SculptJobParams,
    run_sculpt_job,
    "graphstore prune sculpt --task input-separable --widths 24,24 --p-unit 65 --p-edge 1.5",
)
JOBS.register(IMP)
JOBS.register(TIMP)
JOBS.register(STRUCTURED)
JOBS.register(LAYERS)
JOBS.register(SCULPT)
