"""Checkpoints: one torch file holds model and dataset specs, weights, masks, theta_0, epoch, round, metrics.

Files live at <data_dir>/runs/<run_id>/epoch_<k>.pt (or round_<r>_epoch_<k>.pt for pruning rounds; an
interrupted run leaves interrupted.pt). They are read with `torch.load(weights_only=True)`, so a checkpoint
holds only tensors and plain data, and loading one never runs code. Masks map parameter names
("conv1.weight") to bool tensors of the parameter's shape; True keeps the weight.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore import __version__
from graphstore.nn.datasets.base import DataInfo, DatasetSpec
from graphstore.nn.errors import CheckpointError
from graphstore.nn.models import ModelSpec, build_model

FORMAT = "graphstore-checkpoint"
VERSION = 1
REQUIRED = ("model", "dataset", "data_info", "state_dict", "masks", "epoch")
NAME = re.compile(r"^(?:round_(\d+)_)?epoch_(\d+)\.pt$")
Tensors = dict[str, torch.Tensor]


@dataclass
class Checkpoint:
    """The content of one checkpoint file."""

    model: ModelSpec
    dataset: DatasetSpec
    data_info: DataInfo
    state_dict: Tensors
    masks: Tensors = field(default_factory=dict)
    theta0: Tensors | None = None
    epoch: int = 0
    round: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION
    path: Path | None = None

    def build_model(self, device: str | torch.device = "cpu", weights: str = "trained") -> nn.Module:
        """The model with trained weights (theta_0 with weights="initial"), masks applied, in eval mode."""
        state = self.state_dict if weights == "trained" else self.theta0
        if state is None:
            raise CheckpointError(f"Checkpoint {self.path} holds no initial weights (theta_0).")
        model = build_model(self.model, self.data_info)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"Checkpoint {self.path} does not match model {self.model.name}: {exc}",
                "The file may be corrupt or written by an incompatible model version.",
            ) from exc
        apply_masks(model, self.masks)
        return model.to(device).eval()

    def sparsity(self) -> float | None:
        """Fraction of masked-out weights among the masked parameters (None without masks)."""
        if not self.masks:
            return None
        total = sum(m.numel() for m in self.masks.values())
        kept = sum(int(m.sum()) for m in self.masks.values())
        return 1.0 - kept / max(1, total)

    def to_payload(self) -> dict[str, Any]:
        """The dict written to disk (tensors and plain data only)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "model": self.model.to_dict(),
            "dataset": self.dataset.to_dict(),
            "data_info": self.data_info.to_dict(),
            "state_dict": self.state_dict,
            "masks": self.masks,
            "theta0": self.theta0,
            "epoch": self.epoch,
            "round": self.round,
            "metrics": {str(k): float(v) for k, v in self.metrics.items()},
            "run_id": self.run_id,
            "extra": self.extra,
            "created_at": datetime.now(UTC).isoformat(),
            "graphstore_version": __version__,
            "torch_version": str(torch.__version__),
        }


def cpu_state(model: nn.Module) -> Tensors:
    """A detached CPU copy of a model's state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def make_checkpoint(
    model: nn.Module,
    dataset: DatasetSpec,
    data_info: DataInfo,
    epoch: int,
    *,
    masks: Tensors | None = None,
    theta0: Tensors | None = None,
    round: int | None = None,
    metrics: dict[str, float] | None = None,
    run_id: int | str | None = None,
    extra: dict[str, Any] | None = None,
) -> Checkpoint:
    """Snapshot a model built by build_model (it carries `model.spec`) into a Checkpoint."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise CheckpointError("The model has no ModelSpec (`model.spec`); build it with graphstore.nn.make_model.")
    return Checkpoint(
        spec,
        dataset,
        data_info,
        cpu_state(model),
        {k: v.detach().to("cpu", torch.bool) for k, v in (masks or {}).items()},
        theta0,
        epoch,
        round,
        dict(metrics or {}),
        run_id,
        dict(extra or {}),
    )


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(checkpoint.to_payload(), tmp)
    os.replace(tmp, path)
    checkpoint.path = path
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a checkpoint; missing, corrupt or foreign files raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint file at {path}.",
            "Find checkpoints with `graphstore runs show RUN_ID` or under <data_dir>/runs/<run_id>/.",
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load raises many types for non-torch or truncated files
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {_short(exc)}).",
            "The file is corrupt or not a torch file; re-create it with `graphstore train`.",
        ) from exc
    return _from_payload(payload, path)


def _short(exc: Exception) -> str:
    """The first line of an exception message, capped."""
    return (str(exc).strip().splitlines() or [""])[0][:160]


def _from_payload(payload: Any, path: Path) -> Checkpoint:
    """Validate the loaded dict and turn it into a Checkpoint."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = ", ".join(map(str, list(payload)[:8])) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is a torch file but not a graphstore checkpoint (holds: {keys}).",
            "Pass a checkpoint written by graphstore (<data_dir>/runs/<run_id>/epoch_<k>.pt).",
        )
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this graphstore reads <= {VERSION}.",
            "Upgrade graphstore to read it.",
        )
    absent = [k for k in REQUIRED if k not in payload]
    if absent:
        raise CheckpointError(f"{path} is corrupt: missing {', '.join(absent)}.", "Re-create it with graphstore train.")
    try:
        ckpt = Checkpoint(
            ModelSpec.from_dict(payload["model"]),
            DatasetSpec.from_dict(payload["dataset"]),
            DataInfo.from_dict(payload["data_info"]),
            _tensors(payload["state_dict"], "state_dict"),
            _tensors(payload["masks"], "masks"),
            _optional_tensors(payload.get("theta0")),
            int(payload["epoch"]),
            _opt_int(payload.get("round")),
            dict(payload.get("metrics") or {}),
            payload.get("run_id"),
            dict(payload.get("extra") or {}),
            version,
            path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt: {exc}.", "Re-create it with graphstore train.") from exc
    _check_masks(ckpt)
    return ckpt


def _tensors(value: Any, what: str) -> Tensors:
    """A str -> Tensor dict, or TypeError."""
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
        raise TypeError(f"{what} is not a dict of tensors")
    return dict(value)


def _optional_tensors(value: Any) -> Tensors | None:
    """theta_0 may be absent."""
    return None if value is None else _tensors(value, "theta0")


def _opt_int(value: Any) -> int | None:
    """An optional integer field."""
    return None if value is None else int(value)


def _check_masks(ckpt: Checkpoint) -> None:
    """Every mask is a bool tensor shaped like a parameter of the state dict."""
    for name, mask in ckpt.masks.items():
        target = ckpt.state_dict.get(name)
        if target is None or target.shape != mask.shape or mask.dtype != torch.bool:
            raise CheckpointError(
                f"{ckpt.path} is corrupt: mask {name!r} does not fit a weight of the model.",
                "Masks must be bool tensors keyed by parameter name, e.g. 'conv1.weight'.",
            )


def apply_masks(model: nn.Module, masks: Tensors) -> None:
    """Zero the masked-out weights in place (masks keyed by parameter name)."""
    if not masks:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))


def run_dir(data_dir: str | Path, run_id: int | str) -> Path:
    """<data_dir>/runs/<run_id>."""
    return Path(data_dir) / "runs" / str(run_id)


def checkpoint_path(data_dir: str | Path, run_id: int | str, epoch: int, round: int | None = None) -> Path:
    """<data_dir>/runs/<run_id>/epoch_<k>.pt, or round_<r>_epoch_<k>.pt within a pruning round."""
    name = f"epoch_{epoch}.pt" if round is None else f"round_{round}_epoch_{epoch}.pt"
    return run_dir(data_dir, run_id) / name


def list_checkpoints(data_dir: str | Path, run_id: int | str) -> list[tuple[int | None, int, Path]]:
    """(round, epoch, path) of a run's checkpoints, sorted by round then epoch."""
    folder = run_dir(data_dir, run_id)
    found = [(NAME.match(p.name), p) for p in folder.glob("*.pt")] if folder.is_dir() else []
    rows = [(int(m[1]) if m[1] else None, int(m[2]), p) for m, p in found if m]
    return sorted(rows, key=lambda r: (-1 if r[0] is None else r[0], r[1]))


def find_checkpoint(
    data_dir: str | Path, run_id: int | str, epoch: int | None = None, round: int | None = None
) -> Path:
    """A run's checkpoint at `epoch` (default: the last) of `round` (default: the round-less ones)."""
    rows = list_checkpoints(data_dir, run_id)
    if round is not None:
        rows = [r for r in rows if r[0] == round]
    elif rows and any(r[0] is None for r in rows):
        rows = [r for r in rows if r[0] is None]
    if epoch is not None:
        rows = [r for r in rows if r[1] == epoch]
    if not rows:
        have = ", ".join(p.name for _, _, p in list_checkpoints(data_dir, run_id)) or "none"
        raise CheckpointError(
            f"No checkpoint for run {run_id} epoch {epoch if epoch is not None else '(last)'}"
            f"{'' if round is None else f' round {round}'} in {run_dir(data_dir, run_id)}.",
            f"Checkpoints there: {have}.",
        )
    return rows[-1][2]
