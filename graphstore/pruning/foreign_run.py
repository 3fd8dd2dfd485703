"""`graphstore prune imp|topology --model MODULE:CALLABLE --weights FILE`: IMP / T-IMP of any network as a tracked
run, retrained by graphstore's training loop on the --dataset (a registry dataset, or any Dataset of (input, label)
pairs split by graphstore.pruning.foreign_data).

The rounds are graphstore.pruning.foreign's (gs.prune.imp), with `train(model, data, config)` as train_fn. Each
round r writes, under <data_dir>/runs/<run_id>/, the pruned weights as a plain state dict
(`round_<r>_weights.pt`, which `graphstore ingest --model MODULE:CALLABLE --weights FILE` and torch.load read) and
its masks (`round_<r>_masks.pt`, for gs.prune.apply_masks), each with a `.sha256` sidecar, then records both digests
in the folder's manifest (graphstore.pruning.foreign_manifest, what `graphstore ingest --run` reads), and logs the
round's sparsity and metrics at step r (round 0: the given weights, evaluated). theta_0 is `--init-weights`; without it
only `--rewind none` applies (a foreign file holds no record of the weights training started from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.nn.checkpoint import cpu_state, run_dir
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.run_log import TrackedRun, tracked_run
from graphstore.nn.train import evaluate, train
from graphstore.progress import ProgressCallback
from graphstore.pruning.common import Masks, PruningError, RoundRecord
from graphstore.pruning.foreign import PruneRound, imp, prunable_layers, topology_imp
from graphstore.pruning.foreign_manifest import Manifest, new_manifest
from graphstore.pruning.mask_files import save_masks, save_with_digest
from graphstore.pruning.params import ImpParams, TopologyImpParams

KINDS = {"all": (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d)}
KINDS["linear"] = (nn.Linear,)


@dataclass
class ForeignPrune:
    """What a foreign pruning run needs: the model (trained weights loaded), theta_0 or None, the data, the record."""

    model: nn.Module
    theta0: dict[str, torch.Tensor] | None
    data: LoadedDataset
    record: dict[str, Any]
    name: str
    spec: dict[str, Any]  # the manifest's model, model_opt and dataset (foreign_manifest.new_manifest)


@dataclass
class ForeignPruneRun:
    """The finished run: its id and one RoundRecord per round (its checkpoint is the round's weights file)."""

    run_id: int | str
    rounds: list[RoundRecord] = field(default_factory=list)


def layer_names(model: nn.Module, params: ImpParams) -> list[str]:
    """The Linear/Conv layers --layers chooses (all, conv, linear); --exclude-output drops the last one."""
    found = [name for name, module in prunable_layers(model) if isinstance(module, KINDS[params.layers])]
    if params.exclude_output and found:
        found = found[:-1]
    if not found:
        raise PruningError(f"{type(model).__name__} has no {params.layers} layers to prune.", "Choose --layers all.")
    return found


def check_rewind(params: ImpParams, theta0: Any) -> str:
    """The rewind of a foreign run: init (needs --init-weights) or none; epoch has no run to read from."""
    if params.rewind == "epoch":
        raise PruningError(
            "--rewind epoch reads a graphstore training run; a foreign model's weights file has none.",
            "Use --rewind init with --init-weights FILE (the weights before training), or --rewind none.",
        )
    if params.rewind == "init" and theta0 is None:
        raise PruningError(
            "--rewind init needs the weights training started from (theta_0), which --weights does not hold.",
            "Pass --init-weights FILE (torch.save(model.state_dict(), FILE) before training), or --rewind none.",
        )
    return params.rewind


def run_foreign(
    job: ForeignPrune,
    params: ImpParams,
    config: Any,
    data_dir: str | Path,
    tracking_url: str | None,
    progress: ProgressCallback | None = None,
    on_round: Any = None,
) -> ForeignPruneRun:
    """IMP (or T-IMP for TopologyImpParams) of job.model as one tracked run; files and metrics per round."""
    rewind, names = check_rewind(params, job.theta0), layer_names(job.model, params)
    theta0 = job.theta0 if job.theta0 is not None else cpu_state(job.model)
    kind = "prune-topology" if isinstance(params, TopologyImpParams) else "prune-imp"
    with tracked_run(tracking_url, kind, job.name, job.record, config.seed, config.device) as tracked:
        out = ForeignPruneRun(tracked.run_id)
        folder = Path(run_dir(data_dir, tracked.run_id))
        keep = Keeper(tracked, folder, job.data, out, new_manifest(folder, **job.spec), on_round)

        def train_fn(model: nn.Module) -> dict[str, float]:
            return dict(train(model, job.data, config, progress=progress).final)

        options: dict[str, Any] = {"layers": names, "scope": params.scope, "rewind": rewind, "theta0": theta0}
        options["on_round"] = keep
        if isinstance(params, TopologyImpParams):
            topology_imp(job.model, train_fn, params.rounds, params.rate, conv_norm=params.conv_norm, **options)
        else:
            imp(job.model, train_fn, params.rounds, params.rate, **options)
    return out


@dataclass
class Keeper:
    """The per-round callback: evaluate round 0, write the round's weights and masks, log the round."""

    tracked: TrackedRun
    folder: Path
    data: LoadedDataset
    out: ForeignPruneRun
    manifest: Manifest
    then: Any = None

    def __call__(self, record: PruneRound, model: nn.Module, masks: Masks) -> None:
        if record.round == 0:
            record.metrics.update({f"test_{k}": v for k, v in evaluate(model, self.data, "test").items()})
        weights = save_with_digest(cpu_state(model), self.folder / f"round_{record.round}_weights.pt")
        mask_file = save_masks(masks, self.folder / f"round_{record.round}_masks.pt")
        self.manifest.add_round(record.round, weights, mask_file, record.sparsity)
        self.tracked.metrics(record.round, {**record.metrics, "sparsity": record.sparsity})
        self.tracked.note = f"after round {record.round}"
        self.out.rounds.append(RoundRecord(record.round, record.sparsity, dict(record.metrics), weights))
        if self.then is not None:
            self.then(self.out.rounds[-1])
