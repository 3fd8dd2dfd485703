"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images), upsampled; the offline default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, in_memory


@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits upsampled bilinearly (16x16 by default); no files, no network."""

    size: int = field(
        default=16,
        metadata={"help": "Image side after upsampling (8 keeps the original).", "choices": (8, 16, 28, 32)},
    )
    val_fraction: float = field(default=0.1, metadata={"help": "Fraction of all samples held out for validation."})
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction of all samples held out for testing."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/val/test split."})
    limit: int = field(default=0, metadata={"help": "Use at most this many training samples (0 = all)."})


def digits_arrays(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 images as float32 (N, 1, size, size) in the original 0..16 units, and int64 labels."""
    from sklearn.datasets import load_digits  # deferred: sklearn is slow to import and only this path needs it

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.contiguous(), torch.as_tensor(bunch.target, dtype=torch.int64)


def build(params: Digits, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Load, upsample and split the digits."""
    x, y = digits_arrays(params.size)
    info = DataInfo("digits", (1, params.size, params.size), tuple(str(i) for i in range(10)))
    return in_memory(
        spec,
        info,
        {"train": (x, y)},
        params.val_fraction,
        params.test_fraction,
        params.split_seed,
        params.limit,
        {"source": "sklearn.datasets.load_digits"},
    )


DATASETS.register(DatasetEntry("digits", Digits, build))
