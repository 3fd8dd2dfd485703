"""The train job: a registered model on a registered dataset, as a tracked run with checkpoints and metrics.

`--nproc N` (N > 1) re-launches the job under torchrun with N local processes (graphstore.jobs.launch, shared with
the pruning jobs that train): each trains with DistributedDataParallel; rank 0 hands the outcome back. Started by
torchrun already (WORLD_SIZE set), the job trains in place as its rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.launch import distributable, nproc_field
from graphstore.nn.config import TrainConfig
from graphstore.nn.tracked import train_tracked
from graphstore.params import parse_assignments


@dataclass(frozen=True)
class ModelChoice:
    """A registered model and dataset with their parameters (`graphstore train --list` shows them)."""

    PANEL: ClassVar[str] = "Model and dataset"  # its options' panel in --help

    model: str = field(
        default="small-cnn",
        metadata={
            "help": "Model name (mlp, small-cnn, medium-cnn, conv6, vgg16, vgg16-plain, resnet18, synflow-conv).",
            "flags": ("--model", "-m"),
        },
    )
    dataset: str = field(
        default="digits",
        metadata={
            "help": "Dataset name (digits, mnist-5k, planted-tree, mnist, fashion-mnist, cifar10, cifar100, cifar20, "
            "imagefolder, caltech101, boolean-modular).",
            "flags": ("--dataset", "-d"),
        },
    )
    model_opt: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Model parameter KEY=VALUE (repeatable), e.g. width=0.25 or hidden=64,32.", "repeat": True},
    )
    data_opt: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Dataset parameter KEY=VALUE (repeatable), e.g. size=28 or root=/data.", "repeat": True},
    )

    def model_params(self) -> dict[str, str]:
        """--model-opt as a mapping (checked against the model's parameter dataclass when it is built)."""
        return parse_assignments(self.model_opt, "--model-opt")

    def data_params(self) -> dict[str, str]:
        """--data-opt as a mapping (checked against the dataset's parameter dataclass when it loads)."""
        return parse_assignments(self.data_opt, "--data-opt")


@dataclass(frozen=True)
class TrainParams:
    """Train a model on a dataset; checkpoints to <data_dir>/runs/<run_id>/epoch_<k>.pt, metrics to the DB."""

    choice: ModelChoice = field(default_factory=ModelChoice)
    name: str | None = field(
        default=None, metadata={"help": "Run name in the tracking DB (default <model>-<dataset>)."}
    )
    train: TrainConfig = field(default_factory=TrainConfig)
    nproc: int = nproc_field()


@dataclass
class TrainOutcome:
    """The tracked run, its per-epoch history and final metrics, and the checkpoints written."""

    run_id: Any
    model: str
    dataset: str
    hidden_neurons: int
    sizes: dict[str, int]
    history: list[dict[str, float]]
    final: dict[str, float]
    saved: list[Path]


@distributable
def run_train(context: JobContext, params: TrainParams) -> TrainOutcome:
    """Train as a tracked run (graphstore.nn.tracked.train_tracked) and return what it recorded; --nproc N > 1
    re-launches it under torchrun (graphstore.jobs.launch)."""
    return train_here(context, params)


def train_here(context: JobContext, params: TrainParams) -> TrainOutcome:
    """Train in this process (one rank of a torchrun launch, or alone)."""
    choice, settings = params.choice, context.settings

    def announce(run_id: Any, net: Any, data: Any) -> None:
        context.note(
            f"run {run_id}: {net.spec.name} ({net.hidden_neurons()} hidden neurons) on {data.info.name} "
            f"(train {data.size('train')}, val {data.size('val')}, test {data.size('test')})"
        )

    out = train_tracked(
        settings.data_dir,
        settings.tracking_url,
        choice.model,
        choice.model_params(),
        choice.dataset,
        choice.data_params(),
        params.train,
        name=params.name,
        on_start=announce,
        progress=context.progress,
    )
    sizes = {split: out.data.size(split) for split in ("train", "val", "test")}
    return TrainOutcome(
        out.run_id,
        out.params["model"]["name"],
        out.data.info.name,
        out.params["hidden_neurons"],
        sizes,
        list(out.result.history),
        dict(out.result.final),
        list(out.saved),
    )


TRAIN = JobSpec(
    "train",
    "Train a model on a dataset; checkpoints to <data_dir>/runs/<run_id>/epoch_<k>.pt, metrics to the DB.",
    TrainParams,
    run_train,
    "graphstore train --model small-cnn --dataset digits --epochs 5",
)
JOBS.register(TRAIN)
