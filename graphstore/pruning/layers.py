"""`prune layers` (docs/METHODS.md B4, 001 section 4): convolutional-layer pruning from the multilayer class network.

delta is computed for every node of the multilayer network (graphstore.extract.multilayer); a conv layer is
kept when at least one of its nodes has delta > gamma x mean(delta) (or the median), the others are removed.
The smaller CNN is rebuilt from the model's spec with `removed_convs` (the next kept conv takes the previous
kept layer's channels; pools and the FC head stay; kept layers keep their names), then retrained as a tracked
run whose parent is the run that trained the start checkpoint. Guard: when no node passes the threshold, the
layer with the largest delta is kept, so no model ever loses every conv layer. A gamma sweep shares one delta
computation; each distinct set of removed layers is retrained once.

What to expect (measured on digits with small/medium CNNs): with the default post-ReLU (non-negative) arc weights
every delta lies in [0, ln C] and, for a trained network, close to ln C, so with the mean aggregate the useful
gammas lie just below 1 (above ~1.0 nothing passes and the guard keeps one layer). The signed `response`
weights give most nodes a negative degree in some class (delta 0), which lowers the mean and widens the range.

LayerPruneParams lives in graphstore.pruning.params (torch-free), so the CLI builds its options without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.multilayer import MultilayerParams, multilayer_of, require_multilayer
from graphstore.nn.models import ModelSpec, build_model, model_entry, model_spec, spec_of
from graphstore.nn.models.base import count_parameters
from graphstore.nn.tracked import train_tracked
from graphstore.nn.train import evaluate, resolve_device
from graphstore.progress import ProgressCallback
from graphstore.pruning.common import Start
from graphstore.pruning.params import AGGREGATES as AGGREGATES
from graphstore.pruning.params import INITS as INITS
from graphstore.pruning.params import LayerPruneParams as LayerPruneParams


@dataclass
class LayerSelection:
    """Which conv layers one gamma keeps and removes, with the threshold that decided it."""

    gamma: float
    aggregate: str
    center: float
    threshold: float
    kept: list[str]
    removed: list[str]
    layer_max: dict[str, float]
    guarded: bool = False


def select_layers(
    names: Sequence[str], deltas: Sequence[np.ndarray], gamma: float, aggregate: str = "mean"
) -> LayerSelection:
    """Keep the layers with a node whose delta > gamma x mean (or median) of all nodes' delta."""
    if not gamma > 0:
        raise GraphstoreError(f"gamma must be > 0, got {gamma}.", "Pass --gamma 1.0 (001 sweeps 0.25 to 2).")
    if aggregate not in AGGREGATES:
        raise GraphstoreError(f"Unknown aggregate {aggregate!r}.", f"Choose one of: {', '.join(AGGREGATES)}.")
    flat = np.concatenate([np.asarray(d, dtype=np.float64).reshape(-1) for d in deltas])
    center = float(flat.mean() if aggregate == "mean" else np.median(flat))
    threshold = gamma * center
    layer_max = {n: float(np.max(d)) if np.size(d) else 0.0 for n, d in zip(names, deltas, strict=True)}
    kept = [n for n in names if layer_max[n] > threshold]
    guarded = not kept
    if guarded:
        kept = [max(names, key=lambda n: layer_max[n])]
    removed = [n for n in names if n not in kept]
    return LayerSelection(gamma, aggregate, center, threshold, kept, removed, layer_max, guarded)


def conv_number(name: str) -> int:
    """conv7 -> 7 (the model's 1-based conv numbering, which pruned models keep)."""
    digits = name[len("conv") :]
    if not name.startswith("conv") or not digits.isdigit():
        raise GraphstoreError(
            f"Layer {name!r} is not a numbered conv layer (conv1, conv2, ...).",
            "Layer pruning rebuilds graphstore conv stacks: small-cnn, medium-cnn, conv6, vgg16.",
        )
    return int(digits)


def pruned_spec(spec: ModelSpec, removed: Sequence[str]) -> ModelSpec:
    """The model spec without the `removed` conv layers (on top of any removed before)."""
    fields = {f.name for f in dataclasses.fields(model_entry(spec.name).params)}
    if "removed_convs" not in fields:
        raise GraphstoreError(
            f"Model {spec.name} cannot be rebuilt without conv layers.",
            "Layer pruning supports small-cnn, medium-cnn, conv6 and vgg16.",
        )
    numbers = sorted({*map(int, spec.params.get("removed_convs") or ()), *map(conv_number, removed)})
    return model_spec(spec.name, spec.data_info(), {**spec.params, "removed_convs": numbers})


def parameter_count(spec: ModelSpec) -> int:
    """Trainable parameters of the model a spec builds."""
    return count_parameters(build_model(spec))


def layer_deltas(
    model: nn.Module, data: Any, params: LayerPruneParams, device: str, batch_size: int
) -> tuple[list[str], list[np.ndarray]]:
    """Conv layer names and the delta of each layer's nodes (box filters, no arcs)."""
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
    return [g.name for g in ml.layers], [d.cpu().numpy() for d in ml.delta]


@dataclass
class SweepRow:
    """One gamma: its selection, the rebuilt spec, its size, and the retrained run and metrics."""

    selection: LayerSelection
    spec: ModelSpec
    parameters: int
    run_id: Any = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class LayerPruneResult:
    """The parent's size and metrics, the conv layers with their max delta, and one row per gamma."""

    parent_parameters: int
    parent_metrics: dict[str, float]
    layers: list[str]
    rows: list[SweepRow]


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
    """Build the smaller CNN and train it as a tracked run (parent = the start's run); -> (run id, metrics)."""
    sel = row.selection
    start_checkpoint = str(start.checkpoint) if start.checkpoint else None
    record = {
        "method": dataclasses.asdict(params),
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
    out = train_tracked(
        data_dir,
        tracking_url,
        row.spec,
        None,
        None,
        None,
        config,
        data=start.data,
        name=name or f"{row.spec.name}-layers-g{sel.gamma:g}",
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
    return out.run_id, dict(out.result.final)


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
) -> LayerPruneResult:
    """delta once, then per gamma: select, rebuild, count parameters, retrain (once per distinct removal)."""
    device = str(resolve_device(config.device))
    ckpt_like = _CheckpointView(start)
    require_multilayer(ckpt_like, start.model)  # type: ignore[arg-type]
    names, deltas = layer_deltas(start.model, start.data, params, device, config.eval_batch_size)
    spec = spec_of(start.model)
    parent_metrics = {k: v for k, v in start.metrics.items() if k.startswith("test_")}
    if "test_acc" not in parent_metrics and start.data.size("test"):
        parent_metrics = {f"test_{k}": v for k, v in evaluate(start.model, start.data, "test").items()}
    rows, done = [], {}
    for gamma in params.gammas():
        sel = select_layers(names, deltas, gamma, params.aggregate)
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
    return LayerPruneResult(parameter_count(spec), parent_metrics, names, rows)


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
