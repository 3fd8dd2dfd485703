"""The training loop: lean (no per-batch host syncs), seeded, masked, with callbacks and Ctrl-C safety.

    data = load_dataset("digits"); model = make_model("small-cnn", data.info)
    result = train(model, data, TrainConfig(epochs=5), callbacks=[CheckpointSaver(data_dir, run_id, data)])

Per-batch work is forward, backward, step, the mask multiply (when masks are given) and two on-device
accumulations; losses and hits are read back once per epoch. Callbacks see every epoch's metrics
(loss, acc, val_loss, val_acc, lr, seconds). KeyboardInterrupt calls each callback's on_interrupt (the
checkpoint saver writes interrupted.pt, the run logger marks the run interrupted) and re-raises.

Hooks for methods that change the model while it trains (structured pruning): `penalty(model)` is added to the
loss (switchable per epoch through `state.penalty`); `Callback.on_epoch_trained` runs after each epoch's
training and validation, before the test evaluation, and may prune (assign `state.masks`: the loop then keeps
the new masks) or add metrics; `mask_gradients` zeroes masked entries' gradients too; an existing optimiser and
scheduler can be handed in and come back in the result. Progress goes to a graphstore.progress callback.

Under torchrun (graphstore.nn.distributed) the same loop runs data-parallel: the model is wrapped in
DistributedDataParallel (its batch norms use the global batch's statistics), `config.batch_size` stays the
global batch (each rank takes batch_size / W samples of a DistributedSampler shard of the permutation a single
process would draw), and the epoch's and the evaluations' sums are all-reduced, so every rank holds the same
metrics; which callbacks run on which rank is the caller's choice (train_tracked: writers on rank 0 only).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphstore.nn import distributed
from graphstore.nn.augment import Augmenter
from graphstore.nn.checkpoint import (
    Checkpoint,
    Tensors,
    apply_masks,
    checkpoint_path,
    cpu_state,
    make_checkpoint,
    run_dir,
    save_checkpoint,
)
from graphstore.nn.config import TrainConfig, parse_augment, parse_epochs
from graphstore.nn.datasets.base import BatchIterable, DataInfo, LoadedDataset
from graphstore.nn.errors import InvalidParams
from graphstore.params import to_dict
from graphstore.progress import ProgressCallback, progress_or_silent

Metrics = dict[str, float]
Penalty = Callable[[nn.Module], torch.Tensor]
__all__ = [
    "Callback",
    "CheckpointSaver",
    "EpochLogger",
    "Penalty",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "evaluate",
    "masked_gradients",
    "parse_epochs",
    "seed_everything",
    "train",
]


@dataclass
class TrainState:
    """What callbacks see: model, optimiser, data, config, progress so far, masks, scheduler and loss penalty.

    A callback may assign `masks` (new masks are kept from the next step on) and `penalty` (None = plain loss).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data: LoadedDataset
    config: TrainConfig
    masks: Tensors
    epoch: int = 0
    history: list[Metrics] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    checkpoint_due: bool = False
    stopped_early: bool = False
    interrupted: bool = False
    last_checkpoint: Path | None = None
    scheduler: Any = None
    penalty: Penalty | None = None
    forward: nn.Module | None = None
    augment: Augmenter | None = None

    @property
    def net(self) -> nn.Module:
        """The module the training step calls: the DistributedDataParallel wrapper under torchrun, else the model."""
        return self.forward if self.forward is not None else self.model


@dataclass
class TrainResult:
    """Per-epoch history, best epoch by validation loss, final metrics, how the run ended, and the masks,
    optimiser and scheduler at the end (to continue training with the same state)."""

    history: list[Metrics]
    final: Metrics
    best_epoch: int
    stopped_early: bool
    seconds: float
    masks: Tensors = field(default_factory=dict)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None


class Callback:
    """Hooks called by train(); override what you need."""

    def on_train_start(self, state: TrainState) -> None:
        """Before the first epoch (weights are theta_0 here)."""

    def on_epoch_trained(self, state: TrainState, metrics: Metrics) -> None:
        """After an epoch's training, validation and lr step, before its test evaluation: may prune (assign
        `state.masks`), switch `state.penalty`, or add entries to `metrics`."""

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        """After each epoch with its metrics; `state.checkpoint_due` says whether to save."""

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        """After the last epoch (and the final test evaluation)."""

    def on_interrupt(self, state: TrainState) -> None:
        """On KeyboardInterrupt, before it is re-raised."""


class EpochLogger(Callback):
    """Calls `fn(epoch, metrics)` after each epoch (e.g. to print or collect metrics)."""

    def __init__(self, fn: Callable[[int, Metrics], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        self.fn(state.epoch, metrics)


class CheckpointSaver(Callback):
    """Saves <data_dir>/runs/<run_id>/epoch_<k>.pt when due (theta_0 included), interrupted.pt on Ctrl-C.

    `extra` goes into every checkpoint's extra; `extra_fn(state)` adds entries computed at save time.
    """

    def __init__(
        self,
        data_dir: str | Path,
        run_id: int | str,
        data: LoadedDataset,
        *,
        round: int | None = None,
        theta0: Tensors | None = None,
        extra: dict[str, Any] | None = None,
        on_saved: Callable[[Checkpoint], None] | None = None,
        extra_fn: Callable[[TrainState], dict[str, Any]] | None = None,
    ) -> None:
        self.data_dir, self.run_id, self.data, self.round = Path(data_dir), run_id, data, round
        self.theta0, self.on_saved, self.extra_fn = theta0, on_saved, extra_fn
        self.extra = {"splits": data.meta.get("splits", {}), **(extra or {})}
        self.saved: list[Path] = []

    def on_train_start(self, state: TrainState) -> None:
        if self.theta0 is None:
            self.theta0 = cpu_state(state.model)
        if state.config.checkpoint_epochs and 0 in state.config.checkpoint_epochs:
            self._save(state, 0, {}, checkpoint_path(self.data_dir, self.run_id, 0, self.round))

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        if state.checkpoint_due:
            self._save(
                state,
                state.epoch,
                metrics,
                checkpoint_path(self.data_dir, self.run_id, state.epoch, self.round),
            )

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        if state.config.restore_best and result.best_epoch:
            path = checkpoint_path(self.data_dir, self.run_id, result.best_epoch, self.round)
            self._save(state, result.best_epoch, result.final, path, {"restored_best": True})

    def on_interrupt(self, state: TrainState) -> None:
        last = state.history[-1] if state.history else {}
        name = "interrupted.pt" if self.round is None else f"round_{self.round}_interrupted.pt"
        self._save(
            state,
            state.epoch,
            last,
            run_dir(self.data_dir, self.run_id) / name,
            {"interrupted": True, "partial_epoch": state.epoch + 1},
        )

    def _save(
        self, state: TrainState, epoch: int, metrics: Metrics, path: Path, extra: dict[str, Any] | None = None
    ) -> None:
        ckpt = make_checkpoint(
            state.model,
            self.data.spec,
            self.data.info,
            epoch,
            masks=state.masks,
            theta0=self.theta0,
            round=self.round,
            metrics=metrics,
            run_id=self.run_id,
            extra={
                **self.extra,
                **(self.extra_fn(state) if self.extra_fn is not None else {}),
                **(extra or {}),
                "train_config": config_dict(state.config),
            },
        )
        state.last_checkpoint = save_checkpoint(ckpt, path)
        self.saved.append(path)
        if self.on_saved is not None:
            self.on_saved(ckpt)


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """TrainConfig as JSON-ready data."""
    return to_dict(config)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic and torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (under torchrun cuda is this rank's GPU); cuda without a GPU raises InvalidParams."""
    if name == "auto":
        return distributed.local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParams("--device cuda was asked for but torch sees no CUDA GPU.", "Use --device cpu or auto.")
    return distributed.local_device(torch.device(name))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD (momentum) over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """Per-epoch schedule: cosine to 0 over the epochs, step decay, or none."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return None


def loss_fn(info: DataInfo) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy for classes; per-output binary cross-entropy (on logits) for bit targets."""
    return F.binary_cross_entropy_with_logits if info.task == "multilabel" else F.cross_entropy


def hits(out: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Correct predictions (multilabel: correct bits) as a 0-d tensor, on device."""
    if multilabel:
        return ((out > 0) == (y > 0.5)).sum()
    return (out.argmax(1) == y).sum()


def mask_pairs(model: nn.Module, masks: Tensors, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, float mask on device) pairs; unknown or misshapen masks raise InvalidParams."""
    params = dict(model.named_parameters())
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, mask in masks.items():
        if name not in params or params[name].shape != mask.shape:
            raise InvalidParams(
                f"Mask {name!r} matches no parameter of the model (shape {tuple(mask.shape)}).",
                f"Mask keys are parameter names such as {', '.join(list(params)[:3])}.",
            )
        pairs.append((params[name], mask.to(device=device, dtype=params[name].dtype)))
    return pairs


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: LoadedDataset,
    split: str = "test",
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    *,
    sharded: bool = False,
) -> Metrics:
    """Mean loss and accuracy of `model` on a split (one host sync at the end).

    `sharded` (every rank must call it): under torchrun rank r evaluates batches r, r+W, ... and the sums are
    all-reduced, so all ranks return the metrics of the whole split.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    rank, world = (distributed.rank(), distributed.world_size()) if sharded else (0, 1)
    was_training = model.training
    model.eval()
    multilabel, criterion = data.info.task == "multilabel", loss_fn(data.info)
    total, correct, count, units = (
        torch.zeros((), device=device),
        torch.zeros((), device=device, dtype=torch.long),
        0,
        0,
    )
    for i, (xb, yb) in enumerate(data.loader(split, batch_size=batch_size, device=device)):
        if i % world != rank:
            continue
        out = model(xb)
        total += criterion(out, yb) * len(yb)
        correct += hits(out, yb, multilabel)
        count, units = count + len(yb), units + yb.numel()
    model.train(was_training)
    return _means(total, correct, count, units, device)


def _means(total: torch.Tensor, correct: torch.Tensor, count: int, units: int, device: torch.device) -> Metrics:
    """Mean loss and accuracy from the sums, summed over ranks first under torchrun (one host sync)."""
    total_f, correct_f, count_f, units_f = distributed.sum_over_ranks((total, correct, count, units), device)
    return {"loss": total_f / max(1.0, count_f), "acc": correct_f / max(1.0, units_f)}


@contextmanager
def masked_gradients(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, gradients of masked parameters are multiplied by their mask (pruned entries get 0)."""
    params = dict(model.named_parameters())
    handles = []
    for name, mask in masks.items():
        param = params[name]
        factor = mask.to(param.device, param.dtype)
        handles.append(param.register_hook(lambda grad, f=factor: grad * f))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _epoch(state: TrainState, loader: Iterable, pairs: list, report: Callable[[int], None]) -> Metrics:
    """One pass over the training batches (loss + penalty, masked); returns the mean loss and accuracy."""
    model, net, opt, config, penalty = state.model, state.net, state.optimizer, state.config, state.penalty
    multilabel, criterion = state.data.info.task == "multilabel", loss_fn(state.data.info)
    device = next(model.parameters()).device
    total, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    count = units = 0
    net.train()
    for xb, yb in loader:
        if state.augment is not None:
            xb = state.augment(xb)
        if config.input_noise > 0:
            xb = xb + config.input_noise * torch.randn_like(xb)
        out = net(xb)
        loss = criterion(out, yb)
        objective = loss if penalty is None else loss + penalty(model)
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        if pairs:
            with torch.no_grad():
                for param, mask in pairs:
                    param.mul_(mask)
        total += loss.detach() * len(yb)
        correct += hits(out.detach(), yb, multilabel)
        count, units = count + len(yb), units + yb.numel()
        report(1)
    return _means(total, correct, count, units, device)


def _describe(epoch: int, epochs: int, metrics: Metrics | None) -> str:
    """Progress text: epoch counter and the last epoch's metrics."""
    text = f"epoch {epoch}/{epochs}"
    if metrics:
        text += " " + " ".join(f"{k} {metrics[k]:.4g}" for k in ("loss", "acc", "val_loss", "val_acc") if k in metrics)
    return text


class _Reporter:
    """Counts batches and reports `(text, batches done, batches in all)` to a progress callback."""

    def __init__(self, progress: ProgressCallback, total: int, text: str) -> None:
        self.progress, self.total, self.text, self.done = progress, total, text, 0
        progress(text, 0, total)

    def __call__(self, n: int) -> None:
        self.done += n
        self.progress(self.text, self.done, self.total)


def _end_epoch(state: TrainState, metrics: Metrics, best_state: dict | None) -> dict | None:
    """Track the best validation loss, decide early stopping and whether to checkpoint."""
    config = state.config
    watched = metrics.get("val_loss", metrics["loss"])
    if watched < state.best_val_loss:
        state.best_val_loss, state.best_epoch = watched, state.epoch
        if config.restore_best:
            best_state = copy.deepcopy(state.model.state_dict())
    state.stopped_early = config.patience > 0 and state.epoch - state.best_epoch >= config.patience
    state.checkpoint_due = config.checkpoint_due(state.epoch, state.stopped_early or state.epoch == config.epochs)
    return best_state


def _cpu_masks(masks: Mapping[str, torch.Tensor] | None) -> Tensors:
    """Masks as CPU bool tensors."""
    return {k: v.to("cpu", torch.bool) for k, v in (masks or {}).items()}


def train(
    model: nn.Module,
    data: LoadedDataset,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    masks: Tensors | None = None,
    progress: ProgressCallback | None = None,
    *,
    penalty: Penalty | None = None,
    mask_gradients: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> TrainResult:
    """Train `model` on `data`; masks (parameter name -> bool) keep masked weights at zero every step.

    `penalty(model)` is added to the loss; `mask_gradients` also zeroes masked entries' gradients; `optimizer`
    and `scheduler` continue an earlier run's (default: fresh ones from `config`); progress is reported per batch.
    """
    distributed.setup(config.device)
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model.to(device)
    masks = _cpu_masks(masks)
    pairs = mask_pairs(model, masks, device)
    apply_masks(model, masks)
    optimizer = optimizer if optimizer is not None else make_optimizer(model, config)
    scheduler = scheduler if scheduler is not None else make_scheduler(optimizer, config)
    state = TrainState(model, optimizer, data, config, masks, scheduler=scheduler, penalty=penalty)
    state.augment = make_augmenter(data, config, device)
    if distributed.active():
        state.forward = distributed.data_parallel(model, device)
    generator = torch.Generator().manual_seed(config.seed)
    start, best_state, report = time.perf_counter(), None, progress_or_silent(progress)
    for cb in callbacks:
        cb.on_train_start(state)
    try:
        loader = _train_loader(data, config, device, generator)
        reporter = _Reporter(report, config.epochs * len(loader), _describe(1, config.epochs, None))
        for epoch in range(1, config.epochs + 1):
            tic = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            with masked_gradients(model, state.masks) if mask_gradients else nullcontext():
                metrics = _epoch(state, loader, pairs, reporter)
            if data.size("val"):
                val = evaluate(model, data, "val", config.eval_batch_size, device, sharded=True)
                metrics.update(val_loss=val["loss"], val_acc=val["acc"])
            metrics.update(lr=lr, seconds=time.perf_counter() - tic)
            if scheduler is not None:
                scheduler.step()
            state.epoch = epoch
            pairs = _epoch_trained(state, callbacks, metrics, pairs, device)
            state.history.append(metrics)
            best_state = _end_epoch(state, metrics, best_state)
            if (state.stopped_early or epoch == config.epochs) and not config.restore_best:
                metrics.update(_test(state))
            reporter.text = _describe(epoch, config.epochs, metrics)
            for cb in callbacks:
                cb.on_epoch_end(state, metrics)
            if state.stopped_early:
                break
    except KeyboardInterrupt:
        state.interrupted = True
        for cb in callbacks:
            cb.on_interrupt(state)
        raise
    return _finish(state, callbacks, best_state, time.perf_counter() - start)


def make_augmenter(data: LoadedDataset, config: TrainConfig, device: torch.device) -> Augmenter | None:
    """The training batches' augmentation (TrainConfig.augment), seeded from the training seed; None when off."""
    operations = parse_augment(config.augment)
    if not operations:
        return None
    if not data.info.is_image:
        raise InvalidParams(
            f"--augment {config.augment} applies to images; {data.info.name} holds vectors.", "Leave --augment empty."
        )
    normalizer = getattr(data.splits["train"], "normalizer", None)
    norm = normalizer.params(device, 4) if normalizer is not None else None
    return Augmenter(operations, torch.Generator().manual_seed(config.seed + 7919), norm)


def _train_loader(
    data: LoadedDataset, config: TrainConfig, device: torch.device, generator: torch.Generator
) -> BatchIterable:
    """Shuffled training batches: the whole split, or under torchrun this rank's DistributedSampler shard."""
    if distributed.active():
        return distributed.ShardedBatches(
            data, "train", distributed.per_rank_batch(config.batch_size), device, generator
        )
    return data.loader(
        "train", config.batch_size, shuffle=True, device=device, num_workers=config.num_workers, generator=generator
    )


def _epoch_trained(
    state: TrainState, callbacks: Sequence[Callback], metrics: Metrics, pairs: list, device: torch.device
) -> list:
    """Run the callbacks' on_epoch_trained; if they replaced the masks, apply and keep the new ones."""
    before = state.masks
    for cb in callbacks:
        cb.on_epoch_trained(state, metrics)
    if state.masks is before:
        return pairs
    state.masks = _cpu_masks(state.masks)
    apply_masks(state.model, state.masks)
    return mask_pairs(state.model, state.masks, device)


def _test(state: TrainState) -> Metrics:
    """test_loss and test_acc of the current weights (empty without a test split)."""
    if not state.data.size("test"):
        return {}
    test = evaluate(state.model, state.data, "test", state.config.eval_batch_size, sharded=True)
    return {"test_loss": test["loss"], "test_acc": test["acc"]}


def _finish(state: TrainState, callbacks: Sequence[Callback], best_state: dict | None, seconds: float) -> TrainResult:
    """Restore the best weights if asked (and test them), and notify callbacks."""
    final = dict(state.history[-1]) if state.history else {}
    if best_state is not None:
        state.model.load_state_dict(best_state)
        final = {**state.history[state.best_epoch - 1], **_test(state)}
    result = TrainResult(
        state.history,
        final,
        state.best_epoch,
        state.stopped_early,
        seconds,
        state.masks,
        state.optimizer,
        state.scheduler,
    )
    for cb in callbacks:
        cb.on_train_end(state, result)
    return result
