"""`cifar10`, `cifar100`, `cifar20`: torchvision's pickles under cifar-10-batches-py / cifar-100-python.

cifar20 (docs/METHODS.md A) is the CIFAR-100 subset of four superclasses - medium mammals, large carnivores,
vehicles 1, vehicles 2 - i.e. 20 fine classes, relabelled 0..19 grouped by superclass in that order (fine
labels ascending within a superclass), named by their fine class names; each one's superclass is in meta.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, in_memory, missing, resolve_root
from graphstore.nn.datasets.common import FileParams
from graphstore.nn.errors import DatasetInvalid

CIFAR10_DIR, CIFAR100_DIR = "cifar-10-batches-py", "cifar-100-python"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]
CIFAR100_SUPERCLASSES = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]
CIFAR20_GROUPS: dict[str, tuple[str, ...]] = {
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR20_CLASSES = tuple(name for group in CIFAR20_GROUPS.values() for name in group)


@dataclass(frozen=True)
class Cifar10(FileParams):
    """CIFAR-10, 32x32 colour, 10 classes, 50k train / 10k test."""


@dataclass(frozen=True)
class Cifar100(FileParams):
    """CIFAR-100, 32x32 colour, 100 fine classes (or 20 coarse superclasses), 50k train / 10k test."""

    labels: str = field(default="fine", metadata={"help": "Which labels to train on.", "choices": ("fine", "coarse")})


@dataclass(frozen=True)
class Cifar20(FileParams):
    """CIFAR-100 subset: 4 superclasses (medium mammals, large carnivores, vehicles 1, 2) = 20 classes."""


# What a CIFAR pickle may name: numpy's array/dtype rebuilders (numpy 1.x and 2.x module paths) and builtin
# containers. Anything else (os.system, subprocess, eval, ...) is refused before it is looked up.
NUMPY_CORES = ("numpy.core", "numpy._core")
SAFE_GLOBALS = frozenset(
    {
        *((f"{core}.multiarray", name) for core in NUMPY_CORES for name in ("_reconstruct", "scalar")),
        *((f"{core}.numeric", "_frombuffer") for core in NUMPY_CORES),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "bytearray")),
        ("_codecs", "encode"),  # how protocol-2 pickles spell a bytes object
    }
)


class UnsafePickle(pickle.UnpicklingError):
    """A pickle names a global outside SAFE_GLOBALS."""


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds only numpy arrays, dtypes and builtin containers: a CIFAR file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        """Look up module.name only when it is in SAFE_GLOBALS (Python 2 names such as __builtin__ mapped first)."""
        if (_compat_pickle.IMPORT_MAPPING.get(module, module), name) not in SAFE_GLOBALS:
            raise UnsafePickle(f"{module}.{name}")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys, read by ArraysOnlyUnpickler; anything else raises DatasetInvalid."""
    try:
        with path.open("rb") as fh:
            data = ArraysOnlyUnpickler(fh, encoding="latin1").load()
    except UnsafePickle as exc:
        raise DatasetInvalid(
            f"{path} is not a CIFAR file: it asks to load {exc}, which could run code; it was not loaded.",
            "Delete it and fetch the original (e.g. with the dataset option download=true).",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DatasetInvalid(f"{path} is not a CIFAR pickle ({exc}).", "Replace it with the original file.") from exc
    if not isinstance(data, dict):
        raise DatasetInvalid(f"{path} is not a CIFAR pickle (holds a {type(data).__name__}).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def text(values: Any) -> tuple[str, ...]:
    """Class names as str (pickles may hold bytes)."""
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)


def images_of(batch: dict[str, Any], path: Path) -> torch.Tensor:
    """The (N, 3, 32, 32) uint8 images of a batch dict."""
    data = np.asarray(batch.get("data"), dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetInvalid(f"{path}: 'data' has shape {data.shape}, expected (N, 3072).")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())


def labels_of(batch: dict[str, Any], key: str, path: Path) -> torch.Tensor:
    """The int64 labels under `key` of a batch dict."""
    if key not in batch:
        raise DatasetInvalid(f"{path} has no {key!r} entry (keys: {', '.join(map(str, batch))}).")
    return torch.as_tensor(np.asarray(batch[key], dtype=np.int64))


def load_files(folder: Path, names: tuple[str, ...], key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate images and labels of several pickles."""
    batches = [(read_pickle(folder / n), folder / n) for n in names]
    return (
        torch.cat([images_of(b, p) for b, p in batches]),
        torch.cat([labels_of(b, key, p) for b, p in batches]),
    )


def cifar_root(params: FileParams, data_dir: Path | None, folder: str, files: list[str], tv_class: str) -> Path:
    """The folder holding the pickles, after an optional explicit download; raises when files are missing."""
    root = resolve_root(params.root, data_dir)
    if params.download:
        import torchvision  # deferred: torchvision is slow to import and only this path needs it

        getattr(torchvision.datasets, tv_class)(str(root), download=True)
    missing(
        f"{tv_class} files",
        root / folder,
        files,
        f"Extract the python version of {tv_class} there (torchvision.datasets.{tv_class}(root='{root}', "
        "download=True) writes it).",
    )
    return root / folder


def build_cifar10(params: Cifar10, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """CIFAR-10 from <root>/cifar-10-batches-py."""
    folder = cifar_root(params, data_dir, CIFAR10_DIR, [*CIFAR10_TRAIN, "test_batch"], "CIFAR10")
    meta_file = folder / "batches.meta"
    names = read_pickle(meta_file).get("label_names", CIFAR10_CLASSES) if meta_file.exists() else CIFAR10_CLASSES
    arrays = {
        "train": load_files(folder, CIFAR10_TRAIN, "labels"),
        "test": load_files(folder, ("test_batch",), "labels"),
    }
    info = DataInfo("cifar10", (3, 32, 32), text(names))
    return in_memory(
        spec, info, arrays, params.val_fraction, 0.0, params.split_seed, params.limit, {"source": str(folder)}
    )


DATASETS.register(DatasetEntry("cifar10", Cifar10, build_cifar10))


def cifar100_arrays(params: FileParams, data_dir: Path | None, key: str) -> tuple[dict, dict[str, Any], Path]:
    """CIFAR-100 train/test arrays with labels under `key`, the meta dict, and the folder."""
    folder = cifar_root(params, data_dir, CIFAR100_DIR, ["train", "test"], "CIFAR100")
    meta = read_pickle(folder / "meta") if (folder / "meta").exists() else {}
    arrays = {s: load_files(folder, (s,), key) for s in ("train", "test")}
    return arrays, meta, folder


def build_cifar100(params: Cifar100, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """CIFAR-100 (fine or coarse labels) from <root>/cifar-100-python."""
    arrays, meta, folder = cifar100_arrays(params, data_dir, f"{params.labels}_labels")
    default = CIFAR100_CLASSES if params.labels == "fine" else CIFAR100_SUPERCLASSES
    names = meta.get(f"{params.labels}_label_names", default)
    info = DataInfo("cifar100", (3, 32, 32), text(names))
    return in_memory(
        spec,
        info,
        arrays,
        params.val_fraction,
        0.0,
        params.split_seed,
        params.limit,
        {"source": str(folder), "labels": params.labels},
    )


DATASETS.register(DatasetEntry("cifar100", Cifar100, build_cifar100))


def relabel(arrays: dict, lookup: np.ndarray) -> dict:
    """Keep samples whose fine label maps to a cifar20 class (lookup >= 0), relabelled."""
    out = {}
    for split, (x, y) in arrays.items():
        new = torch.from_numpy(lookup)[y]
        keep = new >= 0
        out[split] = (x[keep].contiguous(), new[keep])
    return out


def build_cifar20(params: Cifar20, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """The 20 fine classes of four CIFAR-100 superclasses, relabelled 0..19."""
    arrays, meta, folder = cifar100_arrays(params, data_dir, "fine_labels")
    fine = list(text(meta.get("fine_label_names", CIFAR100_CLASSES)))
    lookup = np.full(len(fine), -1, dtype=np.int64)
    lookup[[fine.index(n) for n in CIFAR20_CLASSES]] = np.arange(len(CIFAR20_CLASSES))
    info = DataInfo("cifar20", (3, 32, 32), CIFAR20_CLASSES)
    superclass = {n: group for group, names in CIFAR20_GROUPS.items() for n in names}
    extra = {
        "source": str(folder),
        "superclass": superclass,
        "fine_label_ids": {n: fine.index(n) for n in CIFAR20_CLASSES},
    }
    return in_memory(
        spec, info, relabel(arrays, lookup), params.val_fraction, 0.0, params.split_seed, params.limit, extra
    )


DATASETS.register(DatasetEntry("cifar20", Cifar20, build_cifar20))
