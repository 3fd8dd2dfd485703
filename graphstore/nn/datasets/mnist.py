"""`mnist`, `fashion-mnist`: torchvision's raw IDX files under <root>/MNIST/raw, <root>/FashionMNIST/raw."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, in_memory, missing, resolve_root
from graphstore.nn.datasets.common import FileParams
from graphstore.nn.errors import DatasetInvalid

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class Mnist(FileParams):
    """MNIST handwritten digits, 28x28 grey, 60k train / 10k test."""


@dataclass(frozen=True)
class FashionMnist(FileParams):
    """Fashion-MNIST clothing images, 28x28 grey, 60k train / 10k test."""


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (plain or .gz): magic 0,0,dtype,ndim, then big-endian int32 dims, then the data."""
    real = path if path.exists() else path.with_name(path.name + ".gz")
    raw = gzip.decompress(real.read_bytes()) if real.suffix == ".gz" else real.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DatasetInvalid(f"{real} is not an IDX file (bad magic number).", "Replace it with the original file.")
    ndim, dtype = raw[3], np.dtype(IDX_DTYPES[raw[2]])
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    count = int(np.prod(dims)) if ndim else 0
    if len(raw) - 4 - 4 * ndim != count * dtype.itemsize:
        raise DatasetInvalid(
            f"{real} is truncated or padded: header says shape {tuple(dims)}.",
            "Replace it with the original file.",
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=4 + 4 * ndim).reshape(tuple(dims))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (for tests and fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + array.tobytes())


def load_idx_pair(raw_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, H, W) uint8 and labels int64 of one split."""
    images, labels = (read_idx(raw_dir / name) for name in FILES[split])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetInvalid(f"IDX files in {raw_dir} disagree: images {images.shape}, labels {labels.shape}.")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def build_idx(
    params: FileParams, spec: DatasetSpec, data_dir: Path | None, folder: str, classes: tuple[str, ...]
) -> LoadedDataset:
    """Shared loader for MNIST-format datasets."""
    root = resolve_root(params.root, data_dir)
    raw_dir = root / folder / "raw"
    if params.download:
        _download(folder, root)
    missing(
        f"{spec.name} files",
        raw_dir,
        [n for pair in FILES.values() for n in pair],
        f"Copy the four IDX files there (torchvision.datasets.{folder}(root='{root}', download=True) writes them).",
    )
    arrays = {split: load_idx_pair(raw_dir, split) for split in FILES}
    side = arrays["train"][0].shape[-2:]
    info = DataInfo(spec.name, (1, int(side[0]), int(side[1])), classes)
    return in_memory(
        spec,
        info,
        arrays,
        params.val_fraction,
        0.0,
        params.split_seed,
        params.limit,
        {"source": str(raw_dir)},
    )


def _download(folder: str, root: Path) -> None:
    """Fetch the files with torchvision, only when asked."""
    import torchvision  # deferred: torchvision is slow to import and only this path needs it

    getattr(torchvision.datasets, folder)(str(root), download=True)


def build_mnist(params: Mnist, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """MNIST from <root>/MNIST/raw."""
    return build_idx(params, spec, data_dir, "MNIST", tuple(str(i) for i in range(10)))


DATASETS.register(DatasetEntry("mnist", Mnist, build_mnist))


def build_fashion(params: FashionMnist, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Fashion-MNIST from <root>/FashionMNIST/raw."""
    return build_idx(params, spec, data_dir, "FashionMNIST", FASHION_CLASSES)


DATASETS.register(DatasetEntry("fashion-mnist", FashionMnist, build_fashion))
