"""Train a model as a tracked run: load data, seed, build the model, run, checkpoint, log; one function for all.

`graphstore train`, the dense run that pruning starts from, and the retraining of a layer-pruned CNN are all
`train_tracked`:

    out = train_tracked(data_dir, tracking_url, "mlp", {"hidden": (32,)}, "digits", {}, TrainConfig(epochs=2))
    out.run_id, out.result.final["test_acc"], out.saved[-1]

The run follows the one lifecycle (graphstore.nn.run_log.tracked_run): it is created after the data and the
model exist, and whatever stops it from then on (an error, Ctrl-C at any point) finishes it as failed or
interrupted. No typer, no rich: progress goes to a graphstore.progress callback.

Under torchrun every rank calls train_tracked; rank 0 alone loads the data first (the others then read its
cache), creates the tracked run (its id is broadcast), writes checkpoints and logs metrics; the other ranks run
only the caller's `callbacks` (which must act the same on every rank, e.g. pruning) and return no saved paths.
Every rank returns once rank 0 has written its checkpoints (a barrier), so a pruning job that starts from the
run can read them on every rank.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from graphstore.nn import distributed
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import DatasetSpec, LoadedDataset, load_dataset
from graphstore.nn.models import ModelSpec, build_model, model_spec
from graphstore.nn.models.base import prunable
from graphstore.nn.run_log import RunId, RunLog, tracked_run
from graphstore.nn.train import Callback, CheckpointSaver, Metrics, TrainResult, config_dict, seed_everything, train
from graphstore.progress import ProgressCallback, progress_or_silent
from graphstore.tracking import Tracking


@dataclass
class TrackedTraining:
    """A finished tracked training run: its id, the TrainResult, the checkpoints written, the recorded params,
    and the trained model with its data."""

    run_id: RunId
    result: TrainResult
    saved: list[Path]
    params: dict[str, Any]
    model: nn.Module
    data: LoadedDataset


def training_params(spec: ModelSpec, net: nn.Module, data: LoadedDataset, config: TrainConfig) -> dict[str, Any]:
    """What a training run records: model and dataset specs, the TrainConfig, the splits, the hidden neurons."""
    return {
        "model": spec.to_dict(),
        "dataset": data.spec.to_dict(),
        "train": config_dict(config),
        "splits": data.meta.get("splits", {}),
        "hidden_neurons": prunable(net).hidden_neurons(),
    }


def train_tracked(
    data_dir: str | Path,
    tracking: str | Tracking | RunLog | None,
    model: str | ModelSpec,
    model_params: Mapping[str, Any] | None,
    dataset: str | DatasetSpec | None,
    data_params: Mapping[str, Any] | None,
    config: TrainConfig,
    *,
    data: LoadedDataset | None = None,
    name: str | None = None,
    kind: str = "train",
    parent_run_id: int | None = None,
    params: Mapping[str, Any] | None = None,
    start_metrics: Metrics | None = None,
    checkpoint_extra: Mapping[str, Any] | None = None,
    init: Callable[[nn.Module], object] | None = None,
    on_start: Callable[[RunId, nn.Module, LoadedDataset], object] | None = None,
    callbacks: Sequence[Callback] = (),
    progress: ProgressCallback | None = None,
) -> TrackedTraining:
    """Train `model` (a name with `model_params`, or a spec) on `dataset` (or the given `data`) as a tracked run.

    `params` are recorded on top of the training params; `start_metrics` are logged at step 0; `init(model)`
    runs after the seeded build (e.g. to inherit weights); `on_start(run_id, model, data)` once the run exists.
    Checkpoints go to <data_dir>/runs/<run_id>/ and into the tracking DB; each epoch's metrics are logged.
    """
    distributed.setup(config.device)
    lead = distributed.rank() == 0
    report = progress_or_silent(progress if lead else False)
    if data is None:
        if dataset is None:
            raise ValueError("train_tracked needs a dataset (name or spec) or loaded data")
        spec_d = dataset if isinstance(dataset, DatasetSpec) else DatasetSpec(dataset, dict(data_params or {}))
        report(f"loading {spec_d.name}", 0, 1)
        with distributed.lead_first():
            data = load_dataset(spec_d, data_dir)
        report(f"loading {spec_d.name}", 1, 1)
    seed_everything(config.seed)
    spec = model if isinstance(model, ModelSpec) else model_spec(model, data.info, model_params)
    net = build_model(spec, data.info)
    if init is not None:
        init(net)
    record = {**training_params(spec, net, data, config), **(params or {})}
    label = name or f"{spec.name}-{data.spec.name}"
    where = tracking if lead else None
    with tracked_run(where, kind, label, record, config.seed, config.device, parent_run_id) as run:
        run_id = distributed.broadcast(run.run_id)
        if start_metrics and lead:
            run.metrics(0, start_metrics)
        if on_start is not None and lead:
            on_start(run_id, net, data)
        saver = CheckpointSaver(data_dir, run_id, data, on_saved=run.checkpoint, extra=dict(checkpoint_extra or {}))
        writers: list[Callback] = [saver, run.callback()] if lead else []
        result = train(net, data, config, [*writers, *callbacks], progress=report)
    distributed.barrier()  # rank 0's checkpoints and finished run exist on every rank's return
    return TrackedTraining(run_id, result, saver.saved, record, net, data)
