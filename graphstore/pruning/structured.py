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
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphstore.nn.config import TrainConfig
from graphstore.nn.errors import InvalidParams

if TYPE_CHECKING:  # torch is imported inside the functions, so the CLI can build its options without it
    import torch
    from torch import nn

    from graphstore.nn.datasets.base import LoadedDataset

Metrics = dict[str, float]
Tensors = dict[str, "torch.Tensor"]
SPARSITIES_000 = (0.5, 0.675, 0.75, 0.825, 0.9)


@dataclass(frozen=True)
class StructuredConfig:
    """Structured magnitude pruning of hidden units, trained with the group Hoyer-square regulariser."""

    sparsity: float = field(
        default=0.5,
        metadata={"help": "Fraction p of each hidden layer's units to prune (ceil(p*n)); 000 uses "
                  "0.5, 0.675, 0.75, 0.825, 0.9. Must be in [0, 1)."},
    )
    prune_epoch: int | None = field(
        default=None,
        metadata={"help": "Prune at the end of this epoch (0 = before training; default: 70% of the epochs, "
                  "as 000 pruned at 70% of convergence)."},
    )
    lam: float = field(default=1e-4, metadata={"help": "Group-HS weight lambda before pruning (0 after)."})
    keep_bn: bool = field(
        default=False,
        metadata={"help": "Leave pruned channels' BN scale and shift unmasked (000's behaviour: a pruned channel "
                  "then emits a constant)."},
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise InvalidParams(
                f"sparsity must be in [0, 1), got {self.sparsity}.",
                "Pass the fraction of hidden units to prune per layer, e.g. --sparsity 0.5 (1 would prune all).",
            )
        if self.lam < 0:
            raise InvalidParams(f"lam must be >= 0, got {self.lam}.", "Use e.g. --lam 1e-4, or 0 for none.")
        if self.prune_epoch is not None and self.prune_epoch < 0:
            raise InvalidParams(f"prune_epoch must be >= 0, got {self.prune_epoch}.", "Use e.g. --prune-epoch 7.")

    def prune_at(self, epochs: int) -> int:
        """The epoch after which to prune (checked against the number of epochs)."""
        epoch = round(0.7 * epochs) if self.prune_epoch is None else self.prune_epoch
        if epoch > epochs:
            raise InvalidParams(
                f"prune_epoch {epoch} is after the last epoch ({epochs}).",
                "Lower --prune-epoch or raise --epochs; fine-tuning needs epochs after pruning.",
            )
        return epoch


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
    from graphstore.pruning import units as U

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
    """Unit masks for one-shot pruning (ANDed with existing masks), applied to the model in place."""
    from graphstore.pruning import units as U

    keep = select_units(model, sparsity, masks)
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
    progress: bool = False,
) -> StructuredResult:
    """Train with group-HS, prune units once at `prune_epoch`, fine-tune with lambda 0 (masks kept)."""
    import torch

    from graphstore.nn.train import make_optimizer, make_scheduler, resolve_device, seed_everything
    from graphstore.pruning import units as U

    if config.patience or config.restore_best:
        raise InvalidParams("The structured schedule runs every epoch: --patience and --restore-best do not apply.",
                            "Leave --patience at 0 and --restore-best off; choose --epochs and --prune-epoch.")
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model.to(device)
    prune_at, masks = method.prune_at(config.epochs), dict(masks or {})
    U.apply_unit_masks(model, masks)
    if prune_at == 0:
        masks = prune_model(model, method.sparsity, method.keep_bn, masks)
    opt, start, history = make_optimizer(model, config), time.perf_counter(), []
    sched = make_scheduler(opt, config)
    loader = data.loader("train", config.batch_size, shuffle=True, device=device, num_workers=config.num_workers,
                         generator=torch.Generator().manual_seed(config.seed))
    with _bar(progress, config.epochs) as (bar, task):
        for epoch in range(1, config.epochs + 1):
            metrics = _run_epoch(model, opt, loader, data, config, method.lam if epoch <= prune_at else 0.0, masks)
            if sched is not None:
                sched.step()
            if epoch == prune_at:
                masks = prune_model(model, method.sparsity, method.keep_bn, masks)
                metrics.update({f"pruned_{k}": v for k, v in _eval(model, data, "val", config).items()})
            metrics.update(_unit_metrics(model, masks), lam=method.lam if epoch <= prune_at else 0.0)
            if epoch == config.epochs:
                metrics.update({f"test_{k}": v for k, v in _eval(model, data, "test", config).items()})
            history.append(metrics)
            bar.update(task, advance=1, description=_describe(epoch, config.epochs, metrics))
            if on_epoch is not None:
                on_epoch(epoch, metrics, masks)
    final = history[-1] if history else {}
    return StructuredResult(history, masks, U.unit_counts(model, masks), final, prune_at, time.perf_counter() - start)


def _run_epoch(
    model: nn.Module, opt: torch.optim.Optimizer, loader: Any, data: LoadedDataset, config: TrainConfig,
    lam: float, masks: Tensors,
) -> Metrics:
    """One pass: loss + lam * group-HS, masked gradients, re-masking after each step; then validation."""
    import torch

    from graphstore.nn.train import hits, loss_fn, mask_pairs
    from graphstore.pruning import units as U
    from graphstore.pruning.group_hs import model_group_hs

    tic, device = time.perf_counter(), next(model.parameters()).device
    criterion, multilabel = loss_fn(data.info), data.info.task == "multilabel"
    pairs = mask_pairs(model, masks, device)
    total, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    count = units = 0
    lr = opt.param_groups[0]["lr"]
    model.train()
    with U.masked_gradients(model, masks):
        for xb, yb in loader:
            if config.input_noise > 0:
                xb = xb + config.input_noise * torch.randn_like(xb)
            out = model(xb)
            loss = criterion(out, yb)
            objective = loss + model_group_hs(model, lam) if lam > 0 else loss
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            with torch.no_grad():
                for param, mask in pairs:
                    param.mul_(mask)
            total += loss.detach() * len(yb)
            correct += hits(out.detach(), yb, multilabel)
            count, units = count + len(yb), units + yb.numel()
    metrics = {"loss": total.item() / max(1, count), "acc": correct.item() / max(1, units)}
    if data.size("val"):
        metrics.update({f"val_{k}": v for k, v in _eval(model, data, "val", config).items()})
    if lam > 0:
        with torch.no_grad():
            metrics["group_hs"] = float(model_group_hs(model, 1.0))
    return {**metrics, "lr": lr, "seconds": time.perf_counter() - tic}


def _eval(model: nn.Module, data: LoadedDataset, split: str, config: TrainConfig) -> Metrics:
    """Loss and accuracy on a split (empty when the split is)."""
    from graphstore.nn.train import evaluate

    return evaluate(model, data, split, config.eval_batch_size) if data.size(split) else {}


def _unit_metrics(model: nn.Module, masks: Tensors) -> Metrics:
    """Kept hidden units, unit sparsity and weight density."""
    from graphstore.pruning import units as U

    counts = U.unit_counts(model, masks)
    kept, total = sum(k for k, _ in counts.values()), sum(n for _, n in counts.values())
    return {"units_kept": float(kept), "unit_sparsity": 1 - kept / max(1, total),
            "density": U.weight_density(model, masks)}


class _NoBar:
    """A stand-in progress bar."""

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Ignore."""


@contextmanager
def _bar(show: bool, total: int) -> Iterator[tuple[Any, Any]]:
    """A rich progress bar over epochs on stderr (a no-op when disabled)."""
    if not show:
        yield _NoBar(), None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield progress, progress.add_task(f"epoch 0/{total}", total=total)


def _describe(epoch: int, epochs: int, m: Metrics) -> str:
    """Progress text: epoch, accuracy and kept units."""
    return f"epoch {epoch}/{epochs} val_acc {m.get('val_acc', m.get('acc', 0)):.4f} units {int(m['units_kept'])}"


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
    start: Any,
    name: str | None = None,
    progress: bool = True,
) -> StructuredRun:
    """`structured_prune` as a tracked run (child of the checkpoint's run): per-epoch metrics and checkpoints."""
    from graphstore.nn.params import to_dict
    from graphstore.nn.train import config_dict
    from graphstore.pruning.common import PruningRun

    method.prune_at(config.epochs)
    net, data = start.model, start.data
    params = {"method": to_dict(method), "train": config_dict(config), "model": net.spec.to_dict(),
              "dataset": data.spec.to_dict(), "hidden_neurons": net.hidden_neurons()}
    default_name = f"structured-{net.spec.name}-{data.spec.name}-p{method.sparsity}"
    saved: list[Path] = []
    with PruningRun(data_dir, tracking_url, "prune-structured", name or default_name, params, start,
                    config.seed, config.device) as run:

        def on_epoch(epoch: int, metrics: Metrics, current: Tensors) -> None:
            run.log.metrics(run.run_id, epoch, metrics)
            if config.checkpoint_due(epoch, epoch == config.epochs):
                saved.append(_save(run, start, epoch, metrics, current, method, config))

        result = structured_prune(net, data, method, config, masks=start.masks, on_epoch=on_epoch, progress=progress)
    return StructuredRun(run.run_id, result, saved, start.parent_run_id)


def _save(run: Any, start: Any, epoch: int, metrics: Metrics, masks: Tensors, method: StructuredConfig,
          config: TrainConfig) -> Path:
    """Checkpoint epoch `epoch` of the run (masks, kept units and the method in `extra`) and record it."""
    from graphstore.nn.checkpoint import checkpoint_path, make_checkpoint, save_checkpoint
    from graphstore.nn.params import to_dict
    from graphstore.nn.train import config_dict
    from graphstore.pruning import units as U

    data = start.data
    extra = {"splits": data.meta.get("splits", {}), "method": "structured", "structured": to_dict(method),
             "units": {k: list(v) for k, v in U.unit_counts(start.model, masks).items()},
             "train_config": config_dict(config), "start_checkpoint": str(start.checkpoint or "")}
    ckpt = make_checkpoint(start.model, data.spec, data.info, epoch, masks=masks, theta0=start.theta0,
                           metrics=metrics, run_id=run.run_id, extra=extra)
    path = save_checkpoint(ckpt, checkpoint_path(run.data_dir, run.run_id, epoch))
    run.log.checkpoint(ckpt)
    return path


def fresh_start(
    data_dir: str | Path, model: str, model_params: Mapping[str, Any] | None, dataset: str,
    data_params: Mapping[str, Any] | None, seed: int = 0,
) -> Any:
    """A pruning Start from a freshly initialised model (000 trains with group-HS from scratch; no parent run)."""
    from graphstore.nn.checkpoint import cpu_state
    from graphstore.nn.datasets import DatasetSpec, load_dataset
    from graphstore.nn.models import build_model, model_spec
    from graphstore.nn.train import seed_everything
    from graphstore.pruning.common import Start

    data = load_dataset(DatasetSpec(dataset, dict(data_params or {})), data_dir)
    seed_everything(seed)
    net = build_model(model_spec(model, data.info, model_params), data.info)
    return Start(net, data, cpu_state(net))
