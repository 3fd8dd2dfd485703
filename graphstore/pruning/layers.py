"""`prune layers` (docs/METHODS.md B4, 001 section 4): convolutional-layer pruning from the multilayer class network.

delta is computed for every node of the multilayer network (graphstore.extract.multilayer); a conv layer is
kept when at least one of its nodes has delta > gamma x mean(delta) (or the median), the others are removed.
The smaller CNN is rebuilt from the model's spec with `removed_convs` (the next kept conv takes the previous
kept layer's channels; pools and the FC head stay; kept layers keep their names), then retrained as a tracked
run whose parent is the run that trained the start checkpoint. Guard: when no node passes the threshold, the
layer with the largest delta is kept, so no model ever loses every conv layer. A sweep (gammas x aggregates x
modes) shares one delta computation; each distinct set of removed layers is retrained once, and each retrained
model is scored by test accuracy, macro precision and recall, and its mean epoch time (001 Figure 12, Table 1).

`mode=single` is 001's single-layer comparison (section 5.2.2, Table 1 "s"): every class network G^h on its own,
threshold gamma x the mean (or median) of the class degrees d^h(v); the nodes above it in *every* class (the
intersection of the t node sets) name the kept layers.

What to expect: delta lies in [0, ln C], and a node whose class degrees share a sign and differ by at most a
factor r has delta >= ln C - ln r; class-averaged maps differ across classes by small factors (median 1.5-3.3 per
layer on vgg16-plain at 0.967 test accuracy), so every non-zero delta sits near ln C and a layer's best node
within a few % of it. A layer's best node decides, so every layer with a non-zero node switches at about
gamma = ln C / center: the sweep is a step. With `source=response` (default, 001 section 3.1.3) nodes with mixed
class-degree signs have delta 0, which lowers the mean and moves the step; measured numbers: docs/METHODS.md B4.

LayerPruneParams lives in graphstore.pruning.params (torch-free), so the CLI builds its options without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.multilayer import MultilayerParams, multilayer_of, require_multilayer
from graphstore.nn.models import ModelSpec, build_model, conv_stack_models, model_entry, model_spec, spec_of
from graphstore.nn.models.base import count_parameters
from graphstore.nn.tracked import train_tracked
from graphstore.nn.train import evaluate, resolve_device
from graphstore.progress import ProgressCallback
from graphstore.pruning.common import Start, require_registry_model
from graphstore.pruning.params import AGGREGATES as AGGREGATES
from graphstore.pruning.params import INITS as INITS
from graphstore.pruning.params import MODES as MODES
from graphstore.pruning.params import LayerPruneParams as LayerPruneParams


@dataclass
class LayerSelection:
    """Which conv layers one (mode, aggregate, gamma) keeps and removes, with the threshold that decided it.

    mode=multilayer: center/threshold are the aggregate of delta and gamma x it, layer_max the layer's largest delta.
    mode=single: center/threshold are the means over classes of the per-class values, and layer_max is the layer's
    largest margin min_h (d^h(v) - th^h) (> 0: some node passes in every class).
    """

    gamma: float
    aggregate: str
    center: float
    threshold: float
    kept: list[str]
    removed: list[str]
    layer_max: dict[str, float]
    guarded: bool = False
    mode: str = "multilayer"


def check_choice(gamma: float, aggregate: str, mode: str = "multilayer") -> None:
    """gamma > 0 and a known aggregate and mode, or GraphstoreError with the fix."""
    if not gamma > 0:
        raise GraphstoreError(f"gamma must be > 0, got {gamma}.", "Pass --gamma 1.0 (001 sweeps 0.25 to 2).")
    if aggregate not in AGGREGATES:
        raise GraphstoreError(f"Unknown aggregate {aggregate!r}.", f"Choose one of: {', '.join(AGGREGATES)}.")
    if mode not in MODES:
        raise GraphstoreError(f"Unknown mode {mode!r}.", f"Choose one of: {', '.join(MODES)}.")


def _keep(names: Sequence[str], score: dict[str, float], bar: float) -> tuple[list[str], list[str], bool]:
    """(kept, removed, guarded): layers whose score > bar; none passing keeps the best-scoring layer (the guard)."""
    kept = [n for n in names if score[n] > bar]
    guarded = not kept
    if guarded:
        kept = [max(names, key=lambda n: score[n])]
    return kept, [n for n in names if n not in kept], guarded


def select_layers(
    names: Sequence[str], deltas: Sequence[np.ndarray], gamma: float, aggregate: str = "mean"
) -> LayerSelection:
    """Keep the layers with a node whose delta > gamma x mean (or median) of all nodes' delta (001 Algorithm 3)."""
    check_choice(gamma, aggregate)
    flat = np.concatenate([np.asarray(d, dtype=np.float64).reshape(-1) for d in deltas])
    center = float(flat.mean() if aggregate == "mean" else np.median(flat))
    threshold = gamma * center
    layer_max = {n: float(np.max(d)) if np.size(d) else 0.0 for n, d in zip(names, deltas, strict=True)}
    kept, removed, guarded = _keep(names, layer_max, threshold)
    return LayerSelection(gamma, aggregate, center, threshold, kept, removed, layer_max, guarded)


def select_layers_single(
    names: Sequence[str], degrees: Sequence[np.ndarray], gamma: float, aggregate: str = "mean"
) -> LayerSelection:
    """001 section 5.2.2 ("s"): per class h, the nodes with d^h(v) > gamma x mean_v d^h(v) (or the median); a layer
    is kept when one of its nodes is in the intersection of these t node sets. degrees: one (C, ...) per layer."""
    check_choice(gamma, aggregate, "single")
    classes = np.asarray(degrees[0]).shape[0]
    per_layer = [np.asarray(d, dtype=np.float64).reshape(classes, -1) for d in degrees]
    flat = np.concatenate(per_layer, axis=1)
    centers = flat.mean(1) if aggregate == "mean" else np.median(flat, axis=1)
    thresholds = gamma * centers
    layer_max = {
        n: float((d - thresholds[:, None]).min(0).max()) if d.size else -np.inf
        for n, d in zip(names, per_layer, strict=True)
    }
    kept, removed, guarded = _keep(names, layer_max, 0.0)
    return LayerSelection(
        gamma, aggregate, float(centers.mean()), float(thresholds.mean()), kept, removed, layer_max, guarded, "single"
    )


@dataclass(frozen=True)
class Choice:
    """One point of a layer-pruning sweep: single- or multilayer selection, the aggregate, and gamma."""

    mode: str
    aggregate: str
    gamma: float


@dataclass
class LayerStats:
    """Conv layer names, delta of every node per layer, and the class degrees (C, H, W) per layer."""

    names: list[str]
    deltas: list[np.ndarray]
    degrees: list[np.ndarray]

    def select(self, choice: Choice) -> LayerSelection:
        """The layers `choice` keeps and removes."""
        if choice.mode == "single":
            return select_layers_single(self.names, self.degrees, choice.gamma, choice.aggregate)
        check_choice(choice.gamma, choice.aggregate, choice.mode)
        return select_layers(self.names, self.deltas, choice.gamma, choice.aggregate)


def conv_number(name: str) -> int:
    """conv7 -> 7 (the model's 1-based conv numbering, which pruned models keep)."""
    digits = name[len("conv") :]
    if not name.startswith("conv") or not digits.isdigit():
        raise GraphstoreError(
            f"Layer {name!r} is not a numbered conv layer (conv1, conv2, ...).",
            f"Layer pruning rebuilds graphstore conv stacks: {', '.join(conv_stack_models())}.",
        )
    return int(digits)


def pruned_spec(spec: ModelSpec, removed: Sequence[str]) -> ModelSpec:
    """The model spec without the `removed` conv layers (on top of any removed before)."""
    fields = {f.name for f in dataclasses.fields(model_entry(spec.name).params)}
    if "removed_convs" not in fields:
        raise GraphstoreError(
            f"Model {spec.name} cannot be rebuilt without conv layers.",
            f"Layer pruning supports {', '.join(conv_stack_models())}.",
        )
    numbers = sorted({*map(int, spec.params.get("removed_convs") or ()), *map(conv_number, removed)})
    return model_spec(spec.name, spec.data_info(), {**spec.params, "removed_convs": numbers})


def parameter_count(spec: ModelSpec) -> int:
    """Trainable parameters of the model a spec builds."""
    return count_parameters(build_model(spec))


def layer_stats(model: nn.Module, data: Any, params: LayerPruneParams, device: str, batch_size: int) -> LayerStats:
    """Conv layer names, the delta of each layer's nodes and their class degrees (box filters, no arcs)."""
    ml_params = MultilayerParams(
        weight=params.weight,
        source=params.source,
        split=params.split,
        limit=params.limit,
        batch_size=batch_size,
        device=device,
        arcs=False,
    )
    ml, _ = multilayer_of(model, data, ml_params)
    return LayerStats(
        [g.name for g in ml.layers], [d.cpu().numpy() for d in ml.delta], [d.cpu().numpy() for d in ml.degrees]
    )


def layer_deltas(
    model: nn.Module, data: Any, params: LayerPruneParams, device: str, batch_size: int
) -> tuple[list[str], list[np.ndarray]]:
    """Conv layer names and the delta of each layer's nodes."""
    stats = layer_stats(model, data, params, device, batch_size)
    return stats.names, stats.deltas


def macro_scores(predicted: np.ndarray, target: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy and macro-averaged precision and recall over `classes` labels (a 0/0 class scores 0, as sklearn)."""
    confusion = np.bincount(target * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    hits = np.diag(confusion).astype(np.float64)
    said, real = confusion.sum(0), confusion.sum(1)
    precision = np.divide(hits, said, out=np.zeros(classes), where=said > 0)
    recall = np.divide(hits, real, out=np.zeros(classes), where=real > 0)
    total = max(1, int(confusion.sum()))
    return {"acc": float(hits.sum() / total), "precision": float(precision.mean()), "recall": float(recall.mean())}


def class_scores(model: nn.Module, data: Any, split: str = "test", batch_size: int = 1024) -> dict[str, float]:
    """test_acc, test_precision and test_recall (macro) of `model` on a split (001 Figure 12's columns)."""
    if not data.size(split):
        return {}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predicted, target = [], []
    with torch.no_grad():
        for xb, yb in data.loader(split, batch_size=batch_size, device=device):
            predicted.append(model(xb).argmax(1).cpu())
            target.append(yb.cpu())
    model.train(was_training)
    scores = macro_scores(torch.cat(predicted).numpy(), torch.cat(target).numpy(), data.info.num_classes)
    return {f"{split}_{k}": v for k, v in scores.items()}


def epoch_seconds(history: Sequence[dict[str, float]]) -> float:
    """Mean wall time of a training epoch (001's "mean epoch time"), from the per-epoch `seconds`."""
    times = [h["seconds"] for h in history if "seconds" in h]
    return float(np.mean(times)) if times else float("nan")


@dataclass
class SweepRow:
    """One sweep point: its selection, the rebuilt spec, its size, and the retrained run and metrics."""

    selection: LayerSelection
    spec: ModelSpec
    parameters: int
    run_id: Any = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class LayerPruneResult:
    """The parent's size and metrics, the conv layers, one row per sweep point, and every node's delta per layer."""

    parent_parameters: int
    parent_metrics: dict[str, float]
    layers: list[str]
    rows: list[SweepRow]
    deltas: list[np.ndarray] = field(default_factory=list)


def inherit_weights(model: nn.Module, state: dict[str, Any]) -> int:
    """Copy the entries of `state` whose names and shapes match the model; returns how many."""
    own = model.state_dict()
    same = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    return len(same)


def retrain(
    start: Start,
    row: SweepRow,
    params: LayerPruneParams,
    config: Any,
    data_dir: str | Path,
    tracking_url: str | None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Any, dict[str, float]]:
    """Build the smaller CNN and train it as a tracked run (parent = the start's run); -> (run id, metrics).

    The metrics are the run's final ones plus macro test precision / recall and the mean epoch time in seconds.
    """
    sel = row.selection
    start_checkpoint = str(start.checkpoint) if start.checkpoint else None
    record = {
        "method": {**dataclasses.asdict(params), "mode": sel.mode, "aggregate": sel.aggregate},
        "gamma": sel.gamma,
        "threshold": sel.threshold,
        "delta_center": sel.center,
        "removed_layers": sel.removed,
        "kept_layers": sel.kept,
        "layer_max_delta": sel.layer_max,
        "guarded": sel.guarded,
        "parent_model": spec_of(start.model).to_dict(),
        "parameters": row.parameters,
        "start_checkpoint": start_checkpoint,
    }
    prefix = "layers-s" if sel.mode == "single" else "layers"
    out = train_tracked(
        data_dir,
        tracking_url,
        row.spec,
        None,
        None,
        None,
        config,
        data=start.data,
        name=name or f"{row.spec.name}-{prefix}-g{sel.gamma:g}",
        kind="prune-layers",
        parent_run_id=start.parent_run_id,
        params=record,
        start_metrics={
            "parameters": float(row.parameters),
            "removed_layers": float(len(sel.removed)),
            "threshold": sel.threshold,
        },
        checkpoint_extra={"removed_layers": sel.removed, "parent_checkpoint": start_checkpoint},
        init=(lambda net: inherit_weights(net, start.model.state_dict())) if params.init == "inherit" else None,
        progress=progress,
    )
    metrics = {**out.result.final, **class_scores(out.model, start.data, "test", config.eval_batch_size)}
    metrics["epoch_seconds"] = epoch_seconds(out.result.history)
    return out.run_id, metrics


def sweep_plan(params: LayerPruneParams) -> list[Choice]:
    """The params' own sweep: its mode and aggregate at every gamma."""
    return [Choice(params.mode, params.aggregate, g) for g in params.gammas()]


def prune_layers(
    start: Start,
    params: LayerPruneParams,
    config: Any,
    data_dir: str | Path,
    tracking_url: str | None,
    *,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    retrain_models: bool = True,
    on_row: Callable[[SweepRow], None] | None = None,
    plan: Sequence[Choice] | None = None,
    retrained: dict[tuple[str, ...], tuple[Any, dict[str, float]]] | None = None,
) -> LayerPruneResult:
    """delta once, then per sweep point (default: params' gammas): select, rebuild, count, retrain once per removal.

    `retrained` (removed layers -> (run id, metrics)) is read and filled, so sweeps of several arc weights over
    one start retrain each distinct removal once.
    """
    require_registry_model(start.model, "Layer")
    device = str(resolve_device(config.device))
    ckpt_like = _CheckpointView(start)
    require_multilayer(ckpt_like, start.model)  # type: ignore[arg-type]
    stats = layer_stats(start.model, start.data, params, device, config.eval_batch_size)
    spec = spec_of(start.model)
    rows, done = [], retrained if retrained is not None else {}
    for choice in plan if plan is not None else sweep_plan(params):
        sel = stats.select(choice)
        new_spec = pruned_spec(spec, sel.removed)
        row = SweepRow(sel, new_spec, parameter_count(new_spec))
        key = tuple(sel.removed)
        if retrain_models and config.epochs > 0:
            if key not in done:
                done[key] = retrain(start, row, params, config, data_dir, tracking_url, name, progress)
            row.run_id, row.metrics = done[key]
        rows.append(row)
        if on_row is not None:
            on_row(row)
    parent = parent_scores(start, config.eval_batch_size)
    return LayerPruneResult(parameter_count(spec), parent, stats.names, rows, stats.deltas)


def parent_scores(start: Start, batch_size: int) -> dict[str, float]:
    """The start model's test metrics as recorded, plus macro precision / recall (computed here)."""
    metrics = {k: v for k, v in start.metrics.items() if k.startswith("test_")}
    if not start.data.size("test"):
        return metrics
    if "test_loss" not in metrics:
        metrics.update({f"test_{k}": v for k, v in evaluate(start.model, start.data, "test").items()})
    return {**metrics, **class_scores(start.model, start.data, "test", batch_size)}


@dataclass
class _CheckpointView:
    """The two checkpoint fields the multilayer applicability check reads, from a pruning Start."""

    start: Start

    @property
    def model(self) -> ModelSpec:
        return spec_of(self.start.model)

    @property
    def data_info(self) -> Any:
        return self.start.data.info
