"""`layer-pruning` (001): the gamma sweep of multilayer-network layer pruning, and the single-layer comparison.

See docs/experiments/layer-pruning.md and docs/METHODS.md B4 / C3.

One cell = one model, dataset and seed:

1. train the CNN once (the `train` job; 001 trains VGG16 from scratch) -> table `parent` (the unpruned model,
   001's gamma = 0: accuracy, macro precision and recall, mean epoch time, parameters);
2. per arc weight (g_mean, g_median on prune.source, then each `extra_arcs` SOURCE:WEIGHT), delta of every node
   of the multilayer network once; per aggregate (mean, median delta) and gamma in 0.25:2:0.25, the layers kept
   and removed, the rebuilt model's parameters, and the model retrained from scratch (each distinct set of
   removed layers once) -> table `sweep` (001 Figures 12, 14, 15);
3. at `compare_gamma` (001: 1.25, mean aggregate, g_mean) the multilayer selection ("m") against 001's
   single-layer one ("s": per class network, degree > gamma x its mean; the intersection) -> table `comparison`
   (001 Table 1);
4. per arc weight and conv layer: the largest delta, the share of nodes with delta 0 and the switch gammas (max
   delta / mean or median delta: the layer stays below it) -> table `layers` (why a layer goes when it goes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.nn.config import TrainConfig
from graphstore.params import parse_assignments
from graphstore.pruning.params import AGGREGATES, SOURCES, LayerPruneParams

GAMMAS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
WEIGHTS = ("mean", "median")
SWEPT = ("gamma", "aggregate", "weight", "mode", "sweep")  # the cell sweeps these itself


@dataclass(frozen=True)
class LayerPruningParams:
    """One cell of 001's study: train a CNN, prune its conv layers at every gamma, retrain, and compare with 's'."""

    model: str = field(default="medium-cnn", metadata={"help": "CNN from the model registry."})
    model_opts: tuple[str, ...] = field(default=(), metadata={"help": "Model options KEY=VALUE."})
    dataset: str = field(default="digits", metadata={"help": "Dataset from the registry."})
    data_opts: tuple[str, ...] = field(default=(), metadata={"help": "Dataset options KEY=VALUE."})
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=3, schedule="none", checkpoint_epochs=()),
        metadata={
            "help": "Training of the unpruned CNN (001: Adam, constant lr 1e-4, batch 128 for MNIST, patience 3; "
            "the best epoch is kept when patience > 0).",
            "exclude": ("restore_best",),
        },
    )
    retrain_epochs: int = field(default=0, metadata={"help": "Epochs of every pruned CNN (0 = train.epochs)."})
    gammas: tuple[float, ...] = field(default=GAMMAS, metadata={"help": "Gamma values swept (001: 0.25 to 2)."})
    aggregates: tuple[str, ...] = field(default=AGGREGATES, metadata={"help": "Aggregates of delta: mean, median."})
    weights: tuple[str, ...] = field(default=("mean",), metadata={"help": "Arc weights g: mean, median."})
    extra_arcs: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "More arc weights swept besides `weights` (read from prune.source), SOURCE:WEIGHT each, e.g. "
            "activation:median (001 Figure 15's g_median on post-ReLU maps); the tables' source column tells them "
            "apart."
        },
    )
    compare_gamma: float = field(
        default=1.25, metadata={"help": "Gamma of the single- vs multilayer comparison (001 Table 1: 1.25)."}
    )
    prune: LayerPruneParams = field(
        default_factory=LayerPruneParams,
        metadata={
            "help": "Layer pruning: arc weight source and images averaged (the sweep sets gamma, aggregate, weight).",
            "exclude": SWEPT,
        },
    )

    def __post_init__(self) -> None:
        bad = sorted({*self.aggregates} - set(AGGREGATES)) + sorted({*self.weights} - set(WEIGHTS))
        if bad or not self.aggregates or not self.weights or not self.gammas:
            raise ValueError(
                f"gammas, aggregates (mean, median) and weights (mean, median) must be non-empty; got {bad or 'none'}"
            )
        self.arcs()  # refuses a malformed extra_arcs entry before any training

    def arcs(self) -> list[tuple[str, str]]:
        """The (source, weight) pairs the cell sweeps: `weights` on prune.source, then `extra_arcs`, each once."""
        pairs = [(self.prune.source, w) for w in self.weights]
        for entry in self.extra_arcs:
            source, _, weight = entry.partition(":")
            if source not in SOURCES or weight not in WEIGHTS:
                raise ValueError(
                    f"extra_arcs entry {entry!r} is not SOURCE:WEIGHT with SOURCE in {', '.join(SOURCES)} and WEIGHT "
                    f"in {', '.join(WEIGHTS)} (e.g. activation:median)"
                )
            pairs.append((source, weight))
        return list(dict.fromkeys(pairs))

    @property
    def seed(self) -> int:
        """The training seed."""
        return self.train.seed

    @property
    def device(self) -> str:
        """The training device."""
        return self.train.device

    def train_config(self, retrain: bool = False) -> TrainConfig:
        """001's schedule: Adam, constant learning rate, early stopping on the validation loss, no checkpoints
        but the last; a retrain runs retrain_epochs when set."""
        epochs = self.retrain_epochs if retrain and self.retrain_epochs else self.train.epochs
        return replace(self.train, epochs=epochs, restore_best=self.train.patience > 0)

    def method(self, weight: str, source: str = "") -> LayerPruneParams:
        """The layer-pruning parameters for one arc weight (read from `source`, default prune.source)."""
        return replace(self.prune, weight=weight, source=source or self.prune.source)


def run_cell(ctx: CellContext, p: LayerPruningParams) -> None:
    """Train once; per arc weight, one delta computation and the whole sweep; record the four tables."""
    from graphstore.jobs.train import ModelChoice, TrainParams  # deferred: torch (cells only)
    from graphstore.pruning.common import load_start  # deferred: torch
    from graphstore.pruning.layers import Choice, epoch_seconds, parameter_count, prune_layers  # deferred: torch

    choice = ModelChoice(model=p.model, dataset=p.dataset, model_opt=p.model_opts, data_opt=p.data_opts)
    name = f"layer-pruning-{p.model}-s{p.seed}"
    trained = ctx.run_job("train", TrainParams(choice=choice, name=name, train=p.train_config()))
    ctx.link(trained.run_id)
    settings = ctx.job.settings
    start = load_start(settings.data_dir, run_id=int(trained.run_id), data_params=choice.data_params())
    plan = [Choice("multilayer", a, g) for a in p.aggregates for g in p.gammas]
    compare = [Choice("multilayer", "mean", p.compare_gamma), Choice("single", "mean", p.compare_gamma)]
    retrained: dict[tuple[str, ...], tuple[Any, dict[str, float]]] = {}
    parent: dict[str, float] = {}
    for source, weight in p.arcs():
        compared = weight == "mean" and source == p.prune.source  # 001 Table 1: g_mean
        ctx.job.note(f"layer pruning of {p.model} (seed {p.seed}) with g_{weight} ({source}): {len(plan)} sweep points")
        result = prune_layers(
            start,
            p.method(weight, source),
            p.train_config(retrain=True),
            settings.data_dir,
            settings.tracking_url,
            name=f"{name}-g{weight}" + ("" if source == p.prune.source else f"-{source}"),
            progress=ctx.job.progress,
            plan=plan + (compare if compared else []),
            retrained=retrained,  # a removal another arc weight already chose is not retrained again
        )
        parent = result.parent_metrics
        for row in result.rows[: len(plan)]:
            ctx.record("sweep", source=source, weight=weight, **_row_values(row))
        for row in result.rows[len(plan) :]:
            ctx.record("comparison", mode="s" if row.selection.mode == "single" else "m", **_row_values(row))
        _record_layers(ctx, source, weight, result.layers, result.deltas)
    ctx.record(
        "parent",
        parameters=parameter_count(_spec(start.model)),
        epoch_time=epoch_seconds(trained.history),
        **_scores(parent),
    )


def _spec(model: Any) -> Any:
    """The model's spec (to count its parameters the same way as the pruned ones)."""
    from graphstore.nn.models import spec_of  # deferred: torch

    return spec_of(model)


def _scores(metrics: dict[str, float]) -> dict[str, Any]:
    """accuracy, precision, recall (macro, test split) of a metrics mapping; None where missing."""
    names = {"accuracy": "test_acc", "precision": "test_precision", "recall": "test_recall"}
    return {column: _plain(metrics.get(key)) for column, key in names.items()}


def _row_values(row: Any) -> dict[str, Any]:
    """One sweep point's columns: selection, size, and the retrained model's scores and mean epoch time."""
    sel = row.selection
    return {
        "aggregate": sel.aggregate,
        "gamma": sel.gamma,
        "removed": len(sel.removed),
        "removed_layers": list(sel.removed),
        "parameters": row.parameters,
        "threshold": _plain(sel.threshold),
        "guarded": sel.guarded,
        "epoch_time": _plain(row.metrics.get("epoch_seconds")),
        "run": None if row.run_id is None else int(row.run_id),
        **_scores(row.metrics),
    }


def _record_layers(ctx: CellContext, source: str, weight: str, names: list[str], deltas: list[Any]) -> None:
    """Per conv layer: the largest delta, the share of its nodes with delta 0 (mixed-sign or zero class degrees),
    and its switch gammas: the layer stays while gamma < max delta / the mean (or median) delta of all nodes."""
    flat = np.concatenate([np.ravel(d) for d in deltas])
    centers = {"mean": float(flat.mean()), "median": float(np.median(flat))}
    for layer, delta in zip(names, deltas, strict=True):
        best = float(delta.max())
        ctx.record(
            "layers",
            source=source,
            weight=weight,
            layer=layer,
            max_delta=best,
            zero_share=float((delta == 0).mean()),
            nodes=int(delta.size),
            **{f"switch_{a}": _plain(best / c) if c > 0 else None for a, c in centers.items()},
        )


def _plain(value: Any) -> Any:
    """A JSON scalar: numpy numbers to Python floats, NaN to None."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def _needs(p: LayerPruningParams) -> list[tuple[str, dict[str, Any]]]:
    """The dataset the cell loads (checked before the run, so paper scale names missing files)."""
    return [(p.dataset, dict(parse_assignments(p.data_opts, "data_opts")))]


def _resources(p: LayerPruningParams) -> tuple[float, float]:
    """(CPUs, GPUs) of one cell for executors that schedule by resources: one GPU when the cell asks for cuda."""
    return (1.0, 1.0 if p.device == "cuda" else 0.0)


PIPELINE = PIPELINES.register(
    Pipeline("layer-pruning", LayerPruningParams, run_cell, datasets=_needs, resources=_resources)
)
