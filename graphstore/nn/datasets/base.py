"""Dataset building blocks: DataInfo (the shape contract), seeded splits, in-memory sources, fast loaders.

Image data stays in memory in its stored dtype (uint8 for MNIST/CIFAR) and is converted and normalised per
batch in one fused op (`addcmul`) on the training device: much leaner than a DataLoader over PIL images.
Folder datasets (ImageFolder layout) stream from disk through a DataLoader instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from graphstore.config import default_data_dir
from graphstore.nn.errors import DatasetMissing

Batch = tuple[torch.Tensor, torch.Tensor]
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about a dataset: input shape, classes, and the kind of target."""

    name: str
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    task: str = "multiclass"  # "multiclass" (integer labels) or "multilabel" (bit vectors, e.g. boolean tasks)

    @property
    def num_classes(self) -> int:
        """Number of classes (or output bits for multilabel tasks)."""
        return len(self.class_names)

    @property
    def is_image(self) -> bool:
        """True for (channels, height, width) inputs."""
        return len(self.input_shape) == 3

    @property
    def in_channels(self) -> int:
        """Image channels (1 for vector inputs)."""
        return self.input_shape[0] if self.is_image else 1

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) of image inputs, None for vectors."""
        return (self.input_shape[1], self.input_shape[2]) if self.is_image else None

    @property
    def in_features(self) -> int:
        """Number of input values per sample (flattened)."""
        return math.prod(self.input_shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "task": self.task,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataInfo:
        """Inverse of to_dict."""
        return cls(
            str(data["name"]),
            tuple(int(v) for v in data["input_shape"]),
            tuple(str(c) for c in data["class_names"]),
            str(data.get("task", "multiclass")),
        )


class Source(Protocol):
    """One split: a length, batches on a device, and the original sample indices."""

    indices: np.ndarray

    def __len__(self) -> int: ...

    def loader(
        self,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        device: torch.device,
        num_workers: int,
    ) -> BatchIterable: ...


class BatchIterable(Protocol):
    """An iterable of (x, y) batches that knows its number of batches."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Batch]: ...


@dataclass
class Normalizer:
    """Per-channel affine map x -> x * mult + shift (i.e. (x - mean) / std in the stored units)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def params(self, device: torch.device, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mult, shift) broadcastable over a batch of `ndim` dims."""
        shape = (1, -1) + (1,) * (ndim - 2)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).clamp_min(1e-8)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device)
        return (1.0 / std).view(shape), (-mean / std).view(shape)


def channel_stats(x: torch.Tensor, chunk: int = 8192) -> Normalizer:
    """Per-channel mean and std of x (N, C, ...) in its stored units, in float64, chunked to bound memory."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    dims = [0] + list(range(2, x.ndim))
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk].to(torch.float64)
        total += block.sum(dim=dims)
        squares += block.square().sum(dim=dims)
    count = max(1, x.numel() // x.shape[1])
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return Normalizer(tuple(mean.tolist()), tuple(std.tolist()))


class TensorBatches:
    """Batches sliced from device-resident tensors; shuffled by a seeded generator; normalised per batch."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        norm: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator, self.norm = generator, norm

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n, size = len(self.x), self.batch_size
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        for start in range(0, n, size):
            if order is None:
                xb, yb = self.x[start : start + size], self.y[start : start + size]
            else:
                idx = order[start : start + size]
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            yield self._transform(xb), yb

    def _transform(self, xb: torch.Tensor) -> torch.Tensor:
        """Stored dtype -> normalised float32 (one fused multiply-add)."""
        xb = xb.float()
        return torch.addcmul(self.norm[1], xb, self.norm[0]) if self.norm is not None else xb


@dataclass
class TensorSource:
    """An in-memory split: inputs in their stored dtype, targets, original indices, and the normaliser."""

    x: torch.Tensor
    y: torch.Tensor
    indices: np.ndarray
    normalizer: Normalizer | None = None
    _cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.x)

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """x and y on `device`, copied once and cached."""
        key = str(device)
        if key not in self._cache:
            self._cache[key] = (self.x.to(device), self.y.to(device))
        return self._cache[key]

    def loader(
        self,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        device: torch.device,
        num_workers: int = 0,
    ) -> TensorBatches:
        """Batches on `device` (num_workers is irrelevant for in-memory data)."""
        x, y = self.on(device)
        norm = self.normalizer.params(device, x.ndim) if self.normalizer else None
        return TensorBatches(x, y, batch_size, shuffle, generator, norm)


class DeviceLoader:
    """Wraps a DataLoader so batches arrive on the training device."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        blocking = self.device.type != "cuda"
        for xb, yb in self.loader:
            yield xb.to(self.device, non_blocking=not blocking), yb.to(self.device, non_blocking=not blocking)


@dataclass
class StreamSource:
    """A split streamed from a torch Dataset (e.g. ImageFolder) through a DataLoader."""

    dataset: torch.utils.data.Dataset
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def loader(
        self,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None,
        device: torch.device,
        num_workers: int = 0,
    ) -> DeviceLoader:
        """A DataLoader over the split's indices, moving batches to `device`."""
        subset = torch.utils.data.Subset(self.dataset, self.indices.tolist())
        loader = torch.utils.data.DataLoader(
            subset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )
        return DeviceLoader(loader, device)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset name and its parameters: JSON-serialisable; `load_dataset(spec, data_dir)` rebuilds it."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSpec:
        """Inverse of to_dict."""
        return cls(str(data["name"]), dict(data.get("params") or {}))


@dataclass
class LoadedDataset:
    """A dataset ready for training: info, the splits, and metadata (split seed, sizes, index hashes)."""

    spec: DatasetSpec
    info: DataInfo
    splits: dict[str, Source]
    meta: dict[str, Any] = field(default_factory=dict)

    def size(self, split: str) -> int:
        """Number of samples in a split (0 when absent)."""
        return len(self.splits[split]) if split in self.splits else 0

    def loader(
        self,
        split: str,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        num_workers: int = 0,
        generator: torch.Generator | None = None,
    ) -> BatchIterable:
        """Batches (x float32 normalised, y) of a split on `device`; shuffled by `generator` or `seed`."""
        if split not in self.splits:
            raise KeyError(f"dataset {self.info.name} has no {split!r} split (has {', '.join(self.splits)})")
        if shuffle and generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else seed)
        return self.splits[split].loader(batch_size, shuffle, generator, torch.device(device), num_workers)

    def tensors(self, split: str, device: str | torch.device = "cpu", batch_size: int = 4096) -> Batch:
        """A whole split as two tensors (x normalised float32, y), e.g. for activation extraction."""
        batches = list(self.loader(split, batch_size=batch_size, device=device))
        return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def index_hash(indices: np.ndarray) -> str:
    """A short, stable fingerprint of a split's sample indices."""
    return hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


def random_split(n: int, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of range(n): the named fractions first, the rest goes to 'train'; each part sorted."""
    order = np.random.default_rng(seed).permutation(n)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, frac in fractions.items():
        count = int(round(n * frac))
        out[name] = np.sort(order[start : start + count])
        start += count
    out["train"] = np.sort(order[start:])
    return out


def limit_indices(indices: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most `limit` of `indices` (a seeded random subset, kept sorted); 0 means all."""
    if limit <= 0 or limit >= len(indices):
        return indices
    return np.sort(np.random.default_rng(seed + 1).choice(indices, size=limit, replace=False))


def split_meta(splits: Mapping[str, Source], seed: int, sources: Mapping[str, str]) -> dict[str, Any]:
    """Record of the splits: seed, and per split its size, the file it indexes into, and an index hash."""
    return {
        "split_seed": seed,
        "splits": {
            name: {"size": len(src), "source": sources.get(name, name), "index_hash": index_hash(src.indices)}
            for name, src in splits.items()
        },
    }


def resolve_root(root: str, data_dir: Path | None) -> Path:
    """A dataset root: the explicit `root` parameter, else <data_dir>/datasets."""
    if root:
        return Path(root).expanduser()
    if data_dir is None:
        data_dir = default_data_dir()
    return Path(data_dir) / "datasets"


def in_memory(
    spec: DatasetSpec,
    info: DataInfo,
    arrays: Mapping[str, Batch],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    limit: int,
    meta: dict[str, Any] | None = None,
) -> LoadedDataset:
    """Split in-memory arrays: val (and test, without an official test file) carved from 'train', seeded."""
    x, y = arrays["train"]
    official_test = "test" in arrays
    fractions = {"val": val_fraction} if official_test else {"val": val_fraction, "test": test_fraction}
    parts = random_split(len(x), fractions, seed)
    parts = {
        "train": limit_indices(parts["train"], limit, seed),
        **{k: v for k, v in parts.items() if k != "train"},
    }
    train_x = x[torch.from_numpy(parts["train"])]
    norm = channel_stats(train_x) if info.is_image else None
    splits: dict[str, Source] = {
        name: TensorSource(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)], idx, norm)
        for name, idx in parts.items()
        if len(idx) or name == "train"
    }
    if official_test:
        tx, ty = arrays["test"]
        splits["test"] = TensorSource(tx, ty, np.arange(len(tx)), norm)
    origin = "train file" if official_test else "all samples"
    sources = {"train": origin, "val": origin, "test": "test file" if official_test else origin}
    out = {**split_meta(splits, seed, sources), **(meta or {})}
    if norm is not None:
        out["normalization"] = {"mean": list(norm.mean), "std": list(norm.std), "from": "train split"}
    return LoadedDataset(spec, info, splits, out)


def missing(what: str, where: Path, files: list[str], how: str) -> None:
    """Raise DatasetMissing naming the expected files, the folder, and how to get them, if any is absent."""
    absent = [f for f in files if not (where / f).exists() and not (where / (f + ".gz")).exists()]
    if absent:
        raise DatasetMissing(
            f"{what} not found: expected {', '.join(files)} in {where} (missing: {', '.join(absent)}).",
            f"{how} Or point --data-opt root=DIR at a folder that holds them. graphstore never downloads "
            "unless asked (--data-opt download=true, where the network allows).",
        )
