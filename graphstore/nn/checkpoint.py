"""Checkpoints: one torch file holds model and dataset specs, weights, masks, theta_0, epoch, round, metrics.

Files live at <data_dir>/runs/<run_id>/epoch_<k>.pt (or round_<r>_epoch_<k>.pt for pruning rounds; an
interrupted run leaves interrupted.pt). They are read with `torch.load(weights_only=True)`, so a checkpoint
holds only tensors and plain data, and loading one never runs code. Masks map parameter names
("conv1.weight") to bool tensors of the parameter's shape; True keeps the weight.

Integrity: every save writes `<file>.sha256` beside the file (`sha256sum -c` reads it), and every load checks, in
order, that digest (when the sidecar exists), the CRC-32 torch's zip container keeps for each record, and that
every floating-point tensor (state dict, theta_0, extra) is finite. A file without a sidecar (older runs, a copy,
a user's own file) is accepted on the last two checks alone. The sidecar guards against corruption (a flipped
byte, a truncated copy), not against someone who can write the run folder: they can rewrite both files.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import torch
from torch import nn

from graphstore import __version__
from graphstore.nn.datasets.base import DataInfo, DatasetSpec
from graphstore.nn.errors import CheckpointError
from graphstore.nn.models import ModelSpec, build_model
from graphstore.safe_fs import atomic_write_text, atomic_writer

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
    sha256: str | None = None

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


class _Hashing:
    """A binary writer that passes bytes on and hashes them, so the digest is of exactly what was written."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest = handle, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def digest_path(path: str | Path) -> Path:
    """The SHA-256 sidecar of a checkpoint: <file>.sha256."""
    path = Path(path)
    return path.with_name(f"{path.name}.sha256")


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temp file + rename, never through a symlink), then its SHA-256 sidecar.

    The old sidecar goes first, so a crash in between leaves a file without a digest (accepted on the CRC and
    finite checks), never a digest that names other bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest_path(path).unlink(missing_ok=True)
    with atomic_writer(path, binary=True) as handle:
        hashing = _Hashing(handle)
        torch.save(checkpoint.to_payload(), cast(IO[bytes], hashing))  # torch needs only write + flush
    checkpoint.path, checkpoint.sha256 = path, hashing.digest.hexdigest()
    atomic_write_text(digest_path(path), f"{checkpoint.sha256}  {path.name}\n")
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def recorded_sha256(path: Path) -> str | None:
    """The digest written with a checkpoint (None without a sidecar); an unreadable sidecar is an error."""
    sidecar = digest_path(path)
    if not sidecar.is_file():
        return None
    words = sidecar.read_text(encoding="utf-8", errors="replace").split()
    if not words or len(words[0]) != 64 or any(c not in "0123456789abcdef" for c in words[0].lower()):
        raise CheckpointError(
            f"The digest file {sidecar} does not hold a SHA-256 (64 hex digits).",
            f"Restore it, or remove it to load {path.name} on its CRC and finite checks alone.",
        )
    return words[0].lower()


def verify_file(path: Path) -> str:
    """Check a checkpoint file against its recorded digest and its zip records' CRC-32; return its SHA-256."""
    actual, recorded = file_sha256(path), recorded_sha256(path)
    if recorded is not None and actual != recorded:
        raise CheckpointError(
            f"{path} does not match the SHA-256 written when it was saved: recorded {recorded}, "
            f"file now {actual}. It changed on disk after it was written (corruption or an edit).",
            f"Use another checkpoint of the run (`graphstore runs show RUN_ID`) or re-create this one; if you "
            f"changed the file on purpose, delete {digest_path(path).name} to load it unchecked by digest.",
        )
    bad = _bad_zip_record(path)
    if bad:
        raise CheckpointError(
            f"{path} is corrupt: {bad}.",
            "The file changed after torch wrote it; use another checkpoint of the run or re-create it.",
        )
    return actual


def _bad_zip_record(path: Path) -> str | None:
    """What is wrong with the CRC-32 of torch's zip records (None when all match or it is no zip file)."""
    if not zipfile.is_zipfile(path):
        return None  # torch.load below reports what it is
    try:
        with zipfile.ZipFile(path) as archive:
            first = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return f"its zip container is damaged ({_short(exc)})"
    return None if first is None else f"the CRC-32 of record {first!r} does not match its bytes"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a checkpoint; missing, corrupt, changed or foreign files raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint file at {path}.",
            "Find checkpoints with `graphstore runs show RUN_ID` or under <data_dir>/runs/<run_id>/.",
        )
    sha256 = verify_file(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load raises many types for non-torch or truncated files
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {_short(exc)}).",
            "The file is corrupt or not a torch file; re-create it with `graphstore train`.",
        ) from exc
    ckpt = _from_payload(payload, path)
    ckpt.sha256 = sha256
    return ckpt


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
    _check_finite(ckpt)
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


def _float_tensors(ckpt: Checkpoint) -> Iterator[tuple[str, torch.Tensor]]:
    """Every floating-point tensor the checkpoint holds, named by where it sits (masked-out weights included)."""
    groups: list[tuple[str, Any]] = [("state_dict", ckpt.state_dict), ("theta0", ckpt.theta0 or {})]
    groups += [(f"extra[{k!r}]", v) for k, v in ckpt.extra.items()]
    for group, value in groups:
        items = value.items() if isinstance(value, dict) else [("", value)]
        for name, tensor in items:
            if isinstance(tensor, torch.Tensor) and (tensor.is_floating_point() or tensor.is_complex()):
                yield (f"{group}[{name!r}]" if name else group), tensor


def _check_finite(ckpt: Checkpoint) -> None:
    """Refuse NaN or infinite values anywhere, also on pruned weights, where masking would hide them."""
    for where, tensor in _float_tensors(ckpt):
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise CheckpointError(
                f"{ckpt.path} is corrupt or diverged: {where} holds {bad} non-finite value(s) (NaN or inf).",
                "Use another checkpoint of the run (`graphstore runs show RUN_ID`), or re-create it; a run whose "
                "loss diverged needs a lower learning rate.",
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
        rounds = sorted(run_dir(data_dir, run_id).glob("round_*_weights.pt"), key=lambda p: (len(p.name), p.name))
        raise CheckpointError(
            f"No checkpoint for run {run_id} epoch {epoch if epoch is not None else '(last)'}"
            f"{'' if round is None else f' round {round}'} in {run_dir(data_dir, run_id)}.",
            f"Checkpoints there: {have}."
            if not rounds
            else "The run pruned a network of your own; its rounds are state dicts, not checkpoints: "
            f"`graphstore ingest --run {run_id} [--round R]` stores their graphs, and `graphstore ingest --model "
            f"MODULE:CALLABLE --weights {rounds[-1]} --dataset D` takes one file.",
        )
    return rows[-1][2]
