"""`imagefolder` (any <path>/<class>/<image> tree) and `caltech101` (<root>/caltech101/101_ObjectCategories).

Images stream from disk through a DataLoader (resize to a square, optional greyscale, ImageNet normalisation
for colour). A folder with train/ and test/ (and optionally val/) subfolders uses them as the splits;
otherwise one tree is split at random, seeded, into train/val/test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import (
    DataInfo,
    DatasetSpec,
    LoadedDataset,
    Source,
    StreamSource,
    limit_indices,
    random_split,
    resolve_root,
    split_meta,
)
from graphstore.nn.errors import DatasetInvalid, DatasetMissing

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CALTECH_DIR = Path("caltech101") / "101_ObjectCategories"
CALTECH_EXCLUDE = ("BACKGROUND_Google",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FolderParams:
    """Image size, colour, and the seeded split of a folder tree."""

    size: int = field(default=64, metadata={"help": "Images are resized to size x size."})
    channels: int = field(default=3, metadata={"help": "3 = RGB, 1 = greyscale.", "choices": (1, 3)})
    val_fraction: float = field(default=0.1, metadata={"help": "Fraction held out for validation (no val/ folder)."})
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction held out for testing (no test/ folder)."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/val/test split."})
    limit: int = field(default=0, metadata={"help": "Use at most this many training samples (0 = all)."})
    root: str = field(default="", metadata={"help": "Base folder for relative paths (default <data_dir>/datasets)."})


@dataclass(frozen=True)
class ImageFolderParams(FolderParams):
    """Any ImageFolder tree: <path>/<class>/<image>, or <path>/{train,val,test}/<class>/<image>."""

    path: str = field(default="", metadata={"help": "The tree's folder (absolute, or relative to root)."})


@dataclass(frozen=True)
class Caltech101(FolderParams):
    """Caltech-101 in torchvision's layout, 101 object classes (BACKGROUND_Google excluded)."""


class FolderImages(Dataset):
    """(path, label) samples decoded with PIL, resized, normalised; picklable for DataLoader workers."""

    def __init__(self, samples: list[tuple[str, int]], size: int, channels: int) -> None:
        self.samples, self.size, self.mode = samples, size, "RGB" if channels == 3 else "L"
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
        self.mult = (1.0 / (255.0 * torch.tensor(std))).view(-1, 1, 1)
        self.shift = (-torch.tensor(mean) / torch.tensor(std)).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image  # deferred: PIL is slow to import and only this path needs it

        path, label = self.samples[i]
        with Image.open(path) as opened:
            img = opened.convert(self.mode).resize((self.size, self.size), Image.Resampling.BILINEAR)
            arr = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
        arr = arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1)
        return torch.addcmul(self.shift, arr.float(), self.mult), label


def image_folder(path: Path, classes: list[str], params: FolderParams) -> FolderImages:
    """The images of `classes` under `path` (sorted, like torchvision's ImageFolder)."""
    samples = [
        (str(f), label)
        for label, name in enumerate(classes)
        for f in sorted((path / name).rglob("*"))
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise DatasetInvalid(f"No images under {path} (looked for {', '.join(IMAGE_SUFFIXES)}).")
    return FolderImages(samples, params.size, params.channels)


def class_dirs(path: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """Sorted class folder names under `path`; none raises DatasetMissing/DatasetInvalid."""
    if not path.is_dir():
        raise DatasetMissing(
            f"Image folder {path} does not exist.",
            "Expected <folder>/<class name>/<image files>; pass --data-opt path=... or root=...",
        )
    names = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name not in exclude)
    if not names:
        raise DatasetInvalid(f"{path} has no class subfolders.", "Expected <folder>/<class name>/<image files>.")
    return names


def build_tree(
    spec: DatasetSpec, name: str, path: Path, params: FolderParams, exclude: tuple[str, ...] = ()
) -> LoadedDataset:
    """Splits from train/val/test subfolders when present, else a seeded random split of one tree."""
    presplit = (path / "train").is_dir() and (path / "test").is_dir()
    classes = class_dirs(path / "train" if presplit else path, exclude)
    if presplit:
        parts = {s: image_folder(path / s, classes, params) for s in ("train", "val", "test") if (path / s).is_dir()}
        splits: dict[str, Source] = {s: StreamSource(ds, np.arange(len(ds))) for s, ds in parts.items()}
        if "val" not in parts:
            splits = _carve(parts["train"], splits, params)
        sources = {s: f"{s}/ folder" for s in parts} | {"val": "val/ folder" if "val" in parts else "train/ folder"}
    else:
        tree = image_folder(path, classes, params)
        idx = random_split(len(tree), {"val": params.val_fraction, "test": params.test_fraction}, params.split_seed)
        idx["train"] = limit_indices(idx["train"], params.limit, params.split_seed)
        splits = {s: StreamSource(tree, idx[s]) for s in ("train", "val", "test") if len(idx[s]) or s == "train"}
        sources = {s: "whole tree" for s in splits}
    info = DataInfo(name, (params.channels, params.size, params.size), tuple(classes))
    return LoadedDataset(spec, info, splits, {**split_meta(splits, params.split_seed, sources), "source": str(path)})


def _carve(train: FolderImages, splits: dict[str, Source], params: FolderParams) -> dict[str, Source]:
    """Carve a seeded validation split out of the train/ folder."""
    idx = random_split(len(train), {"val": params.val_fraction}, params.split_seed)
    out = dict(splits)
    out["train"] = StreamSource(train, limit_indices(idx["train"], params.limit, params.split_seed))
    out["val"] = StreamSource(train, idx["val"])
    return {k: out[k] for k in ("train", "val", "test") if k in out}


def build_imagefolder(params: ImageFolderParams, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Any ImageFolder tree given by --data-opt path=..."""
    if not params.path:
        raise DatasetMissing("imagefolder needs a folder.", "Pass --data-opt path=/path/to/tree (<class>/<image>).")
    path = Path(params.path).expanduser()
    path = path if path.is_absolute() else resolve_root(params.root, data_dir) / path
    return build_tree(spec, "imagefolder", path, params)


DATASETS.register(DatasetEntry("imagefolder", ImageFolderParams, build_imagefolder))


def build_caltech(params: Caltech101, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Caltech-101 from <root>/caltech101/101_ObjectCategories/<class>/image_XXXX.jpg."""
    path = resolve_root(params.root, data_dir) / CALTECH_DIR
    if not path.is_dir():
        raise DatasetMissing(
            f"caltech101 not found: expected class folders (accordion/, airplanes/, ...) in {path}.",
            "Extract 101_ObjectCategories.tar.gz there (torchvision.datasets.Caltech101's layout), or pass "
            "--data-opt root=DIR. graphstore never downloads it.",
        )
    return build_tree(spec, "caltech101", path, params, CALTECH_EXCLUDE)


DATASETS.register(DatasetEntry("caltech101", Caltech101, build_caltech))
