"""Shared pruning plumbing: where a run starts, which layers, masks, rewinding, and a tracked run of rounds.

The small API every pruning method uses (imp, topology, structured, sculpt, ...):

    start = load_start(data_dir, checkpoint=path)              # or run_id=..., or train_start(...) from scratch
    layers = select_layers(start.model, "all", exclude_output=False)
    masks = weight_masks(start.model, layers, start.masks)     # "<layer>.weight" -> bool, True = keep
    with PruningRun(data_dir, tracking_url, "prune-imp", name, params, start) as run:
        run.record_start(masks)                                # round 0: the starting model, its sparsity, metrics
        for r in range(1, n + 1):
            masks = ...                                        # your pruning step (a pure function of weights)
            rewind(start.model, start.theta0, masks)           # or a rewind state, or None (no rewind)
            run.train_round(r, start.model, masks, config)     # trains masked, checkpoints round_<r>_epoch_<E>.pt,
                                                               # logs sparsity + metrics at step r in the tracking DB
    run.rounds                                                 # RoundRecords: the CLI renders them (cli/prune_cmd.py)

The pruning run is one tracked run (kind e.g. "prune-imp") whose parent is the run that trained the starting
checkpoint; its metrics at step r are round r's (sparsity, test acc/loss, val acc/loss, plus any extras), and
each round's checkpoint is in the tracking DB with its round and sparsity, so accuracy vs sparsity is a query.
The run's status follows the one lifecycle (graphstore.nn.run_log.tracked_run); Ctrl-C records "after round r".
Under torchrun (`--nproc N`) every rank runs the rounds; rank 0 alone creates the run (its id is broadcast),
writes the checkpoints and logs the metrics; the other ranks train their shards and write nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.nn import distributed
from graphstore.nn.checkpoint import (
    Tensors,
    apply_masks,
    checkpoint_path,
    cpu_state,
    find_checkpoint,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from graphstore.nn.datasets import DatasetSpec, load_dataset
from graphstore.nn.models import MODELS, ModelSpec
from graphstore.nn.models.base import PrunableLayer, prunable
from graphstore.nn.run_log import RunLog, TrackedRun, split_metrics, tracked_run
from graphstore.nn.tracked import train_tracked
from graphstore.nn.train import CheckpointSaver, EpochLogger, Metrics, evaluate, train
from graphstore.progress import ProgressCallback
from graphstore.pruning import LAYER_CHOICES
from graphstore.pruning.params import EPOCH_SPLIT, EPOCH_STEP

Masks = Tensors


class PruningError(GraphstoreError):
    """A pruning run cannot start or continue (bad layer choice, missing rewind state, ...)."""


@dataclass
class Start:
    """A trained model to prune, with its data, theta_0, masks in force, and the run that trained it."""

    model: nn.Module
    data: Any
    theta0: Tensors
    masks: Masks = field(default_factory=dict)
    parent_run_id: int | None = None
    checkpoint: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    epoch: int = 0


@dataclass
class RoundRecord:
    """One finished round: its number, sparsity, metrics and checkpoint file."""

    round: int
    sparsity: float
    metrics: dict[str, float]
    checkpoint: Path | None = None


def _tracking_id(run_id: Any) -> int | None:
    """A tracking-DB run id (int), or None for local ids like 'local-...'."""
    try:
        return int(run_id)
    except (TypeError, ValueError):
        return None


def load_start(
    data_dir: str | Path,
    checkpoint: str | Path | None = None,
    run_id: int | None = None,
    epoch: int | None = None,
    data_params: dict[str, Any] | None = None,
    data: Any = None,
) -> Start:
    """Start from a checkpoint file, or from run `run_id`'s checkpoint at `epoch` (default: its last)."""
    if checkpoint is None and run_id is None:
        raise PruningError("Nothing to prune.", "Pass --checkpoint PATH, --run RUN_ID, or --model and --dataset.")
    path = Path(checkpoint) if checkpoint is not None else find_checkpoint(data_dir, run_id, epoch)  # type: ignore[arg-type]
    ckpt = load_checkpoint(path)
    if ckpt.theta0 is None:
        raise PruningError(
            f"{path} holds no initial weights (theta_0) to rewind to.",
            "Use a checkpoint written by `graphstore train`, or --rewind none.",
        )
    spec = ckpt.dataset if not data_params else DatasetSpec(ckpt.dataset.name, {**ckpt.dataset.params, **data_params})
    data = data if data is not None else load_dataset(spec, data_dir)
    model = ckpt.build_model("cpu").train()
    return Start(
        model, data, ckpt.theta0, dict(ckpt.masks), _tracking_id(ckpt.run_id), path, dict(ckpt.metrics), ckpt.epoch
    )


def train_start(
    data_dir: str | Path,
    tracking_url: str | None,
    model: str,
    model_params: dict[str, Any],
    dataset: str,
    data_params: dict[str, Any],
    config: Any,
    keep_epoch: int | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Start, Tensors | None]:
    """Train a dense model from scratch as a tracked "train" run (the parent); -> (Start, state at keep_epoch)."""
    if keep_epoch is not None and config.checkpoint_epochs is not None:
        config = dataclasses.replace(config, checkpoint_epochs=tuple(sorted({*config.checkpoint_epochs, keep_epoch})))
    out = train_tracked(data_dir, tracking_url, model, model_params, dataset, data_params, config, progress=progress)
    start = load_start(data_dir, checkpoint=find_checkpoint(data_dir, out.run_id), data=out.data)
    kept = None
    if keep_epoch is not None:
        path = find_checkpoint(data_dir, out.run_id, keep_epoch)
        kept = start.theta0 if keep_epoch == 0 else load_checkpoint(path).state_dict
    return start, kept


def rewind_state(data_dir: str | Path, start: Start, epoch: int) -> Tensors:
    """The weights at `epoch` of the run that trained the start (epoch 0 is theta_0), for rewinding."""
    if epoch == 0:
        return start.theta0
    if start.parent_run_id is None:
        raise PruningError(
            f"Cannot rewind to epoch {epoch}: the start checkpoint has no training run.",
            "Use --rewind init or --rewind none.",
        )
    try:
        return load_checkpoint(find_checkpoint(data_dir, start.parent_run_id, epoch)).state_dict
    except GraphstoreError as exc:
        raise PruningError(
            f"No checkpoint of run {start.parent_run_id} at epoch {epoch} to rewind to.",
            f"Train with --checkpoint-epochs including {epoch}, or use --rewind init. ({exc.message})",
        ) from exc


def select_layers(
    model: nn.Module, layers: str = "all", exclude_output: bool = False
) -> list[tuple[str, PrunableLayer]]:
    """The prunable (name, Conv2d | Linear) layers: all, conv-only or linear-only; optionally not the output."""
    if layers not in LAYER_CHOICES:
        raise PruningError(f"Unknown layer choice {layers!r}.", f"Choose one of: {', '.join(LAYER_CHOICES)}.")
    found = list(prunable(model).prunable_layers())
    if exclude_output:
        found = found[:-1]
    kinds = {"all": (nn.Conv2d, nn.Linear), "conv": (nn.Conv2d,), "linear": (nn.Linear,)}[layers]
    chosen: list[tuple[str, PrunableLayer]] = [(n, m) for n, m in found if isinstance(m, kinds)]
    if not chosen:
        raise PruningError(f"The model has no {layers} layers to prune.", f"Choose one of: {', '.join(LAYER_CHOICES)}.")
    return chosen


def weight_masks(model: nn.Module, layers: list[tuple[str, PrunableLayer]], masks: Masks | None = None) -> Masks:
    """A mask per chosen layer's weight ("<name>.weight"): the given one if present, else all True."""
    masks = masks or {}
    out = {}
    for name, module in layers:
        key = f"{name}.weight"
        given = masks.get(key)
        out[key] = given.clone() if given is not None else torch.ones(module.weight.shape, dtype=torch.bool)
    return {**{k: v for k, v in masks.items() if k not in out}, **out}


def sparsity_of(masks: Masks) -> float:
    """Fraction of weights masked out over all masked parameters."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / max(1, total)


def weights_of(model: nn.Module, masks: Masks) -> Tensors:
    """The (detached) parameters named by the masks."""
    params = dict(model.named_parameters())
    return {k: params[k].detach() for k in masks}


def rewind(model: nn.Module, state: Tensors | None, masks: Masks) -> None:
    """Load `state` (theta_0 or an epoch-k state; None = keep the trained weights), then zero the masked weights."""
    if state is not None:
        model.load_state_dict(state, strict=True)
    apply_masks(model, masks)


def epoch_step(round: int, epoch: int) -> int:
    """The metric step of epoch `epoch` of pruning round `round`."""
    return round * EPOCH_STEP + epoch


class PruningRun:
    """One tracked pruning run: round checkpoints under <data_dir>/runs/<id>/, round metrics in the tracking DB.

    The run is created on entering the `with` block and finished on leaving it (completed, failed, or
    interrupted "after round r"), by the one lifecycle of graphstore.nn.run_log.tracked_run. Under torchrun only
    rank 0 tracks and writes (the others get its run id and a log that records nothing).
    """

    def __init__(
        self,
        data_dir: str | Path,
        tracking_url: str | None,
        kind: str,
        name: str,
        params: dict[str, Any],
        start: Start,
        seed: int | None = None,
        device: str | None = None,
    ) -> None:
        if device is not None:
            distributed.setup(device)  # under torchrun: join the group now, so the ranks are known
        self.data_dir, self.start, self.lead = Path(data_dir), start, distributed.rank() == 0
        self.rounds: list[RoundRecord] = []
        params = {**params, "start_checkpoint": str(start.checkpoint) if start.checkpoint else None}
        where = tracking_url if self.lead else None
        self._lifecycle = tracked_run(where, kind, name, params, seed, device, start.parent_run_id)
        self._run: TrackedRun | None = None
        self._id: int | str | None = None

    def __enter__(self) -> PruningRun:
        self._run = self._lifecycle.__enter__()
        self._id = distributed.broadcast(self._run.run_id)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool | None:
        return self._lifecycle.__exit__(exc_type, exc, tb)

    @property
    def run(self) -> TrackedRun:
        """The tracked run (inside the `with` block)."""
        if self._run is None:
            raise PruningError("The pruning run has not started.", "Use it as `with PruningRun(...) as run:`.")
        return self._run

    @property
    def run_id(self) -> int | str:
        """The run's id (rank 0's on every rank)."""
        if self._id is None:
            raise PruningError("The pruning run has not started.", "Use it as `with PruningRun(...) as run:`.")
        return self._id

    @property
    def log(self) -> RunLog:
        """The run's log (metrics and checkpoints)."""
        return self.run.log

    def metrics(self, step: int, metrics: Metrics) -> None:
        """Log metrics at a step (a round, an epoch or a pruning step)."""
        self.run.metrics(step, metrics)

    def record_start(self, masks: Masks, extra: dict[str, float] | None = None) -> RoundRecord:
        """Round 0: evaluate the starting model, checkpoint it with its masks, log its metrics."""
        metrics = {f"test_{k}": v for k, v in evaluate(self.start.model, self.start.data, "test").items()}
        return self.record(0, self.start.model, masks, {**metrics, **(extra or {})}, self.start.epoch)

    def record(
        self, round: int, model: nn.Module, masks: Masks, metrics: dict[str, float], epoch: int = 0
    ) -> RoundRecord:
        """Checkpoint a round's model and masks (rank 0) and log its sparsity and metrics at step `round`."""
        if not self.lead:
            return self._log_round(round, masks, metrics, None)
        data = self.start.data
        ckpt = make_checkpoint(
            model,
            data.spec,
            data.info,
            epoch,
            masks=masks,
            theta0=self.start.theta0,
            round=round,
            metrics=metrics,
            run_id=self.run_id,
            extra={"splits": data.meta.get("splits", {})},
        )
        path = save_checkpoint(ckpt, checkpoint_path(self.data_dir, self.run_id, epoch, round))
        self.log.checkpoint(ckpt)
        return self._log_round(round, masks, metrics, path)

    def train_round(
        self,
        round: int,
        model: nn.Module,
        masks: Masks,
        config: Any,
        progress: ProgressCallback | None = None,
        extra: dict[str, float] | None = None,
    ) -> RoundRecord:
        """Train the masked model, checkpoint the round's last epoch, log the round; returns its record."""
        saver = CheckpointSaver(
            self.data_dir,
            self.run_id,
            self.start.data,
            round=round,
            theta0=self.start.theta0,
            on_saved=self.log.checkpoint,
        )
        config = dataclasses.replace(config, checkpoint_epochs=())
        epochs = EpochLogger(lambda epoch, metrics: self.epoch_metrics(round, epoch, metrics))
        writers = [saver, epochs] if self.lead else []
        result = train(model, self.start.data, config, writers, masks=masks, progress=progress)
        path = saver.saved[-1] if saver.saved else None
        return self._log_round(round, masks, {**result.final, **(extra or {})}, path)

    def epoch_metrics(self, round: int, epoch: int, metrics: Metrics) -> None:
        """Log one epoch of a round's retraining at step round * EPOCH_STEP + epoch, splits suffixed "-epoch"."""
        if self.log.tracking is None:
            return
        rows = [
            (epoch_step(round, epoch), name, value, f"{split}{EPOCH_SPLIT}" if split else EPOCH_SPLIT[1:])
            for split, values in split_metrics(metrics).items()
            for name, value in values.items()
        ]
        self.log.tracking.log_metric_rows(int(self.run_id), rows)

    def _log_round(self, round: int, masks: Masks, metrics: dict[str, float], path: Path | None) -> RoundRecord:
        """Log the round's metrics (with its sparsity) at step `round`; keep its record."""
        sparsity = sparsity_of(masks)
        self.metrics(round, {**metrics, "sparsity": sparsity})
        record = RoundRecord(round, sparsity, dict(metrics), path)
        self.rounds.append(record)
        self.run.note = f"after round {round}"
        return record


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with at most `count` torch intra-op threads, then restore the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(count, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_copy(model: nn.Module) -> Tensors:
    """A CPU copy of a model's state (e.g. to keep a rewind point)."""
    return cpu_state(model)


def require_registry_model(model: nn.Module, method: str) -> None:
    """Refuse a model that graphstore's registry did not build: `method` is defined on those architectures only."""
    if not isinstance(getattr(model, "spec", None), ModelSpec):
        raise PruningError(
            f"{method} pruning is defined on graphstore's registry models ({', '.join(MODELS.names())}); "
            f"{type(model).__name__} is not one of them.",
            "Prune any network's Linear/Conv weights with IMP or T-IMP instead: gs.prune.imp / gs.prune.topology_imp, "
            "or `graphstore prune imp|topology --model MODULE:CALLABLE --weights FILE`.",
        )
