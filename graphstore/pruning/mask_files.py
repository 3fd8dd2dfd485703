"""Pruning masks as files a user can reapply: `save_masks`, `load_masks`, `apply_masks` (docs/API.md, gs.prune).

A mask file is a torch file of plain data ({"format": "graphstore-masks", "version": 1, "masks": {name: bool
tensor}}) read back with `torch.load(weights_only=True)`, so loading one never runs code. Like a checkpoint
(graphstore.nn.checkpoint) it is written atomically with a `<file>.sha256` sidecar; unlike a checkpoint, a mask file
without its sidecar is refused: a mask silently changed would prune other weights with no sign in the accuracy of a
single run. The sidecar guards against corruption and edits by mistake, not against someone who can rewrite both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

import torch
from torch import nn

from graphstore.nn import checkpoint as ckpt
from graphstore.nn.errors import CheckpointError
from graphstore.pruning.common import Masks, PruningError
from graphstore.safe_fs import atomic_write_text, atomic_writer

FORMAT = "graphstore-masks"
VERSION = 1


def save_masks(masks: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write the masks (CPU bool) atomically, then `<file>.sha256`; returns the path."""
    masks = {k: v.detach().to("cpu", torch.bool) for k, v in masks.items()}
    return save_with_digest({"format": FORMAT, "version": VERSION, "masks": masks}, path)


def save_with_digest(payload: Any, path: str | Path) -> Path:
    """torch.save `payload` atomically (never through a symlink), then its SHA-256 sidecar `<file>.sha256`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt.digest_path(path).unlink(missing_ok=True)
    with atomic_writer(path, binary=True) as handle:
        torch.save(payload, cast(IO[bytes], handle))
    atomic_write_text(ckpt.digest_path(path), f"{ckpt.file_sha256(path)}  {path.name}\n")
    return path


def load_masks(path: str | Path) -> Masks:
    """The masks of a file written by save_masks, after its SHA-256 and zip CRC checks; anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise PruningError(f"No mask file at {path}.", "Pass a file written by gs.prune.save_masks (or a prune run).")
    if ckpt.recorded_sha256(path) is None:
        raise PruningError(
            f"{path} has no SHA-256 sidecar ({ckpt.digest_path(path).name}).",
            "Copy the .sha256 file along with the masks; if you trust the file, write it with "
            f"`sha256sum {path.name} > {ckpt.digest_path(path).name}` in its folder.",
        )
    try:
        ckpt.verify_file(path)
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError as exc:
        raise PruningError(exc.message, "Save the masks again (gs.prune.save_masks) or use the run's copy.") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for files that are no torch file
        raise PruningError(
            f"{path} is not a readable mask file ({type(exc).__name__}).", "Save the masks again."
        ) from None
    return masks_of(payload, path)


def masks_of(payload: Any, path: Path) -> Masks:
    """The masks dict of a loaded payload, checked: the format, string keys, bool tensors."""
    masks = payload.get("masks") if isinstance(payload, dict) and payload.get("format") == FORMAT else None
    if not isinstance(masks, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) and v.dtype == torch.bool for k, v in masks.items()
    ):
        raise PruningError(f"{path} is not a graphstore mask file.", "Pass a file written by gs.prune.save_masks.")
    return dict(masks)


def check_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Every mask names a parameter of the model and has its shape; the first that does not is named."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise PruningError(
                f"Mask {name!r} names no parameter of {type(model).__name__}.",
                f"Masks are keyed by parameter name, e.g. {', '.join(list(params)[:3])}; were they saved from "
                "another architecture?",
            )
        if tuple(mask.shape) != tuple(params[name].shape):
            raise PruningError(
                f"Mask {name!r} is {tuple(mask.shape)} but the parameter is {tuple(params[name].shape)}.",
                "Apply masks to the architecture (and options) they were saved from.",
            )


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor] | str | Path) -> Masks:
    """Zero the masked-out weights of `model` in place (masks, or a mask file's path); returns the masks."""
    loaded = load_masks(masks) if isinstance(masks, (str, Path)) else dict(masks)
    check_masks(model, loaded)
    ckpt.apply_masks(model, {k: v.bool() for k, v in loaded.items()})
    return loaded
