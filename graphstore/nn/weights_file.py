"""Weights saved by anyone's training: a state dict, a TorchScript archive or a torch.export archive (.pt2).

Only weights are read, never code. A state dict goes through `torch.load(weights_only=True)`, so a pickled whole
module is refused (naming its class and the fix: save `model.state_dict()`). A .pt2 archive's tensors are read from
its weights records directly (torch.export.load would unpickle its entries with weights_only=False); a pickled entry
goes through weights_only=True as well. A TorchScript archive is loaded with torch.jit.load, which compiles its
TorchScript code, so it must be a file that only its reader (or root) can write; only its state_dict() is used, its
forward never runs.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graphstore.errors import GraphstoreError
from graphstore.nn.checkpoint import file_sha256
from graphstore.safe_fs import check_trusted_file

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
SAVE_HINT = (
    "Save the weights instead: torch.save(model.state_dict(), FILE) (or torch.jit.save / torch.export.save), "
    "and pass --model MODULE:CALLABLE that builds the module."
)


class WeightsError(GraphstoreError):
    """A weights file cannot be read as weights, or the weights do not fit the model."""


@dataclass
class WeightsFile:
    """The tensors of a weights file, its format and the SHA-256 of the file's bytes."""

    path: Path
    state: dict[str, Any]
    format: str
    sha256: str

    def record(self) -> dict[str, Any]:
        """What a run records of the file (never its values)."""
        return {"path": str(self.path.resolve()), "format": self.format, "sha256": self.sha256, "keys": len(self.state)}


def weights_format(path: Path) -> str:
    """ "torchscript", "torch.export" or "state-dict", from the zip records torch wrote."""
    if not zipfile.is_zipfile(path):
        return "state-dict"  # torch's legacy (pre-zip) format; torch.load says what it is
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/archive_format") or n.endswith("_weights_config.json") for n in names):
        return "torch.export"
    if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "state-dict"


def read_weights(path: str | Path) -> WeightsFile:
    """The state dict in `path` (any of the three formats), refused clearly when it is none of them."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"No weights file at {path}.",
            "Pass --weights FILE saved with torch.save(model.state_dict(), FILE), torch.jit.save or torch.export.save.",
        )
    fmt = weights_format(path)
    readers = {"state-dict": state_dict_of, "torchscript": torchscript_state, "torch.export": exported_state}
    return WeightsFile(path, readers[fmt](path), fmt, file_sha256(path))


def state_dict_of(path: Path) -> dict[str, Any]:
    """torch.load(weights_only=True) of a state dict (or of a dict holding one under a usual key)."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a pickled {found.group(1)} object" if found else "pickled Python objects"
        raise WeightsError(
            f"{path} holds {what}, not a state dict: graphstore reads weights with torch.load(weights_only=True), "
            "which never runs code from a file.",
            SAVE_HINT,
        ) from None
    except Exception as exc:  # torch.load raises many types for files that are no torch file
        raise WeightsError(
            f"{path} is not a readable torch file ({type(exc).__name__}: {first_line(exc)}).",
            f"It may be truncated or of another framework. {SAVE_HINT}",
        ) from None
    return unwrap(path, loaded)


def unwrap(path: Path, loaded: Any) -> dict[str, Any]:
    """The state dict itself, or the one under "state_dict"/"model_state_dict"/"model" of a training checkpoint."""
    if is_state(loaded):
        return dict(loaded)
    if isinstance(loaded, Mapping):
        for key in WRAPPER_KEYS:
            if is_state(loaded.get(key)):
                return dict(loaded[key])
        keys = ", ".join(map(str, list(loaded)[:8]))
        raise WeightsError(
            f"{path} holds a dict without tensors (keys: {keys}), not a state dict.",
            f"Save model.state_dict(), or a dict with it under one of: {', '.join(WRAPPER_KEYS)}.",
        )
    raise WeightsError(f"{path} holds a {type(loaded).__name__}, not a state dict.", SAVE_HINT)


def is_state(value: Any) -> bool:
    """Whether `value` looks like a state dict: string keys, at least one tensor."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) for k in value)
        and any(isinstance(v, torch.Tensor) for v in value.values())
    )


def torchscript_state(path: Path) -> dict[str, Any]:
    """The state dict of a TorchScript archive that only its reader (or root) can write."""
    check_trusted_file(path, "TorchScript archive")
    try:
        with warnings.catch_warnings():  # torch.jit's deprecation notice says nothing to an ingest user
            warnings.simplefilter("ignore")
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except Exception as exc:  # noqa: BLE001 - torch.jit.load raises RuntimeError and others for damaged archives
        raise WeightsError(
            f"{path} is not a readable TorchScript archive ({type(exc).__name__}: {first_line(exc)}).", SAVE_HINT
        ) from None


def exported_state(path: Path) -> dict[str, Any]:
    """The parameters and buffers of a torch.export archive, read from its weights records (no unpickling)."""
    try:
        with zipfile.ZipFile(path) as archive:
            configs = [n for n in archive.namelist() if n.endswith("data/weights/model_weights_config.json")]
            if len(configs) != 1:
                raise WeightsError(
                    f"{path} is a .pt2 archive with {len(configs)} models' weights; graphstore reads archives of "
                    "one model saved by torch.export.save.",
                    SAVE_HINT,
                )
            base = configs[0].rsplit("/", 1)[0]
            config = json.loads(archive.read(configs[0]))["config"]
            return {fqn: exported_tensor(archive, base, meta) for fqn, meta in config.items()}
    except (KeyError, ValueError, TypeError, RuntimeError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"{path} is not a torch.export archive graphstore can read ({type(exc).__name__}: {first_line(exc)}).",
            SAVE_HINT,
        ) from None


def exported_tensor(archive: zipfile.ZipFile, base: str, meta: Mapping[str, Any]) -> torch.Tensor:
    """One weights record: raw bytes laid out by its tensor meta, or a tensor pickled (read weights_only)."""
    data = archive.read(f"{base}/{meta['path_name']}")
    if meta.get("use_pickle"):
        value = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"record {meta['path_name']} holds a {type(value).__name__}, not a tensor")
        return value
    from torch._export.serde import schema  # deferred: torch's export schema, only for .pt2 archives
    from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE  # deferred: as above

    tm = meta["tensor_meta"]
    dtype = _SERIALIZE_TO_TORCH_DTYPE[schema.ScalarType(tm["dtype"])]
    sizes = [int(s["as_int"]) for s in tm["sizes"]]
    strides = [int(s["as_int"]) for s in tm["strides"]]
    flat = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.zeros(0, dtype=dtype)
    if not data:
        return torch.zeros(sizes, dtype=dtype)
    return torch.as_strided(flat, sizes, strides, int(tm["storage_offset"]["as_int"])).clone()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, capped."""
    return (str(exc).strip().splitlines() or [""])[0][:200]
