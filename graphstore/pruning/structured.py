"""`structured`: one-shot structured magnitude pruning of hidden units with group-HS (METHODS B2, thesis 000).

Schedule over `TrainConfig.epochs`: train with loss + group-HS (lambda = `lam`) up to `prune_epoch`, prune the
ceil(p * n_l) lowest-saliency units of every hidden layer at the end of that epoch (saliency = L1 of incoming
plus L1 of outgoing weights), set lambda to 0 and fine-tune to the last epoch. One optimiser and one
learning-rate schedule span both phases. Pruned units stay dead: their gradients are masked by hooks and
their parameters re-masked after every step.

    result = structured_prune(model, data, StructuredConfig(sparsity=0.5, prune_epoch=7), TrainConfig(epochs=10))
    run = run_structured(data_dir, tracking_url, method, config, load_start(data_dir, checkpoint=path))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.errors import InvalidParams
from graphstore.nn import distributed
from graphstore.nn.checkpoint import Tensors, cpu_state
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import DatasetSpec, load_dataset
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models import build_model, model_spec, spec_of
from graphstore.nn.models.base import prunable
from graphstore.nn.train import Callback, CheckpointSaver, TrainState, config_dict, evaluate, seed_everything, train
from graphstore.params import to_dict
from graphstore.progress import ProgressCallback
from graphstore.pruning import units as U
from graphstore.pruning.common import PruningRun, Start, require_registry_model
from graphstore.pruning.group_hs import model_group_hs
from graphstore.pruning.params import SPARSITIES_000 as SPARSITIES_000
from graphstore.pruning.params import StructuredConfig as StructuredConfig

Metrics = dict[str, float]


@dataclass
class StructuredResult:
    """Per-epoch history, the final unit masks, kept units per layer, and the final metrics."""

    history: list[Metrics]
    masks: Tensors
    units: dict[str, tuple[int, int]]
    final: Metrics
    prune_epoch: int
    seconds: float


def prune_counts(sizes: Mapping[str, int], sparsity: float) -> dict[str, int]:
    """ceil(p * n_l) units to prune per hidden layer, capped at n_l - 1 so no layer dies."""
    return {name: min(n - 1, math.ceil(sparsity * n - 1e-9)) for name, n in sizes.items()}


def select_units(model: nn.Module, sparsity: float, masks: Mapping[str, torch.Tensor] | None = None) -> dict:
    """Per hidden layer, the keep vector after removing its lowest-saliency units (already dead ones first)."""
    layers = U.unit_layers(model)
    alive = U.kept_units(model, masks or {})
    counts = prune_counts({layer.name: layer.size for layer in layers}, sparsity)
    keep = {}
    for layer in layers:
        scores = U.saliency(layer).cpu().masked_fill(~alive[layer.name], -math.inf)
        keep[layer.name] = U.lowest(scores, max(counts[layer.name], int((~alive[layer.name]).sum())))
    return keep


def prune_model(
    model: nn.Module, sparsity: float, keep_bn: bool = False, masks: Mapping[str, torch.Tensor] | None = None
) -> Tensors:
    """Unit masks for one-shot pruning (ANDed with existing masks), applied to the model in place; under torchrun
    rank 0 selects the units and every rank applies its choice."""
    keep = distributed.from_lead(lambda: select_units(model, sparsity, masks))
    new = U.combine(masks or {}, U.unit_masks(model, keep, keep_bn))
    U.apply_unit_masks(model, new)
    return new


def structured_prune(
    model: nn.Module,
    data: LoadedDataset,
    method: StructuredConfig,
    config: TrainConfig,
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    on_epoch: Callable[[int, Metrics, Tensors], None] | None = None,
    callbacks: Sequence[Callback] = (),
    progress: ProgressCallback | None = None,
) -> StructuredResult:
    """Train with group-HS, prune units once at `prune_epoch`, fine-tune with lambda 0 (masks kept).

    One call of graphstore.nn.train.train: the group-HS penalty, the prune-at-epoch hook and the unit metrics
    are a callback (`_Schedule`); `callbacks` (checkpoints, tracking) see every epoch after it.
    """
    require_registry_model(model, "Structured")
    if config.patience or config.restore_best:
        raise InvalidParams(
            "The structured schedule runs every epoch: --patience and --restore-best do not apply.",
            "Leave --patience at 0 and --restore-best off; choose --epochs and --prune-epoch.",
        )
    prune_at, masks = method.prune_at(config.epochs), dict(masks or {})
    U.apply_unit_masks(model, masks)
    if prune_at == 0:
        masks = prune_model(model, method.sparsity, method.keep_bn, masks)
    penalty = (lambda net: model_group_hs(net, method.lam)) if prune_at > 0 and method.lam > 0 else None
    hooks = [_Schedule(method, prune_at, on_epoch), *callbacks]
    result = train(model, data, config, hooks, masks=masks, progress=progress, penalty=penalty, mask_gradients=True)
    return StructuredResult(
        result.history, result.masks, U.unit_counts(model, result.masks), result.final, prune_at, result.seconds
    )


class _Schedule(Callback):
    """The structured schedule inside the training loop: group-HS until `prune_at`, prune there, then lambda 0."""

    def __init__(
        self, method: StructuredConfig, prune_at: int, on_epoch: Callable[[int, Metrics, Tensors], None] | None
    ) -> None:
        self.method, self.prune_at, self.on_epoch = method, prune_at, on_epoch

    def on_epoch_trained(self, state: TrainState, metrics: Metrics) -> None:
        """Log group-HS, prune at `prune_at` (then switch the penalty off), add the unit metrics."""
        model, epoch = state.model, state.epoch
        lam = self.method.lam if epoch <= self.prune_at else 0.0
        if lam > 0:
            with torch.no_grad():
                metrics["group_hs"] = float(model_group_hs(model, 1.0))
        if epoch == self.prune_at:
            state.masks = prune_model(model, self.method.sparsity, self.method.keep_bn, state.masks)
            state.penalty = None
            metrics.update({f"pruned_{k}": v for k, v in _eval(model, state.data, "val", state.config).items()})
        metrics.update(_unit_metrics(model, state.masks), lam=lam)

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        """Hand the epoch to the caller's `on_epoch(epoch, metrics, masks)`."""
        if self.on_epoch is not None:
            self.on_epoch(state.epoch, metrics, state.masks)


def _eval(model: nn.Module, data: LoadedDataset, split: str, config: TrainConfig) -> Metrics:
    """Loss and accuracy on a split (empty when the split is)."""
    return evaluate(model, data, split, config.eval_batch_size) if data.size(split) else {}


def _unit_metrics(model: nn.Module, masks: Tensors) -> Metrics:
    """Kept hidden units, unit sparsity and weight density."""
    counts = U.unit_counts(model, masks)
    kept, total = sum(k for k, _ in counts.values()), sum(n for _, n in counts.values())
    return {
        "units_kept": float(kept),
        "unit_sparsity": 1 - kept / max(1, total),
        "density": U.weight_density(model, masks),
    }


# ---- tracked runs -------------------------------------------------------------------------------------------


@dataclass
class StructuredRun:
    """A finished tracked run: its id, the result, the checkpoint files written, and the parent run."""

    run_id: int | str
    result: StructuredResult
    saved: list[Path]
    parent_run_id: int | None = None


def run_structured(
    data_dir: str | Path,
    tracking_url: str | None,
    method: StructuredConfig,
    config: TrainConfig,
    start: Start,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> StructuredRun:
    """`structured_prune` as a tracked run (child of the checkpoint's run): per-epoch metrics and checkpoints."""
    method.prune_at(config.epochs)
    net, data = start.model, start.data
    params = {
        "method": to_dict(method),
        "train": config_dict(config),
        "model": spec_of(net).to_dict(),
        "dataset": data.spec.to_dict(),
        "hidden_neurons": prunable(net).hidden_neurons(),
    }
    default_name = f"structured-{spec_of(net).name}-{data.spec.name}-p{method.sparsity}"
    with PruningRun(
        data_dir, tracking_url, "prune-structured", name or default_name, params, start, config.seed, config.device
    ) as run:
        extra = {"method": "structured", "structured": to_dict(method), "start_checkpoint": str(start.checkpoint or "")}
        saver = CheckpointSaver(
            data_dir,
            run.run_id,
            data,
            theta0=start.theta0,
            extra=extra,
            on_saved=run.run.checkpoint,
            extra_fn=lambda state: {"units": {k: list(v) for k, v in U.unit_counts(state.model, state.masks).items()}},
        )
        writers = [saver, run.run.callback()] if run.lead else []  # under torchrun rank 0 alone writes
        result = structured_prune(net, data, method, config, masks=start.masks, callbacks=writers, progress=progress)
    return StructuredRun(run.run_id, result, saver.saved, start.parent_run_id)


def fresh_start(
    data_dir: str | Path,
    model: str,
    model_params: Mapping[str, Any] | None,
    dataset: str,
    data_params: Mapping[str, Any] | None,
    seed: int = 0,
) -> Start:
    """A pruning Start from a freshly initialised model (000 trains with group-HS from scratch; no parent run)."""
    data = load_dataset(DatasetSpec(dataset, dict(data_params or {})), data_dir)
    seed_everything(seed)
    net = build_model(model_spec(model, data.info, model_params), data.info)
    return Start(net, data, cpu_state(net))
