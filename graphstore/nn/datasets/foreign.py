"""Datasets nobody registered here, named on the command line: a torchvision.datasets class by name, or a
MODULE:CALLABLE returning a torch Dataset or DataLoader of (input, label) pairs.

`--dataset MNIST --data-opt root=DIR` builds torchvision.datasets.MNIST(root=DIR, train=<split is train>,
download=False, transform=ToTensor()): graphstore never downloads, so a root without the files is a clear error.
CamelCase names are torchvision's classes (MNIST, CIFAR10, FashionMNIST, ImageFolder, ...); lower-case names stay
graphstore's registry (`mnist` reads <data_dir>/datasets as `graphstore train` does). `resize=N` adds a resize to
N x N before ToTensor (ImageFolder trees of mixed sizes). `--dataset mypkg.data:make --data-opt n=100` calls
mypkg.data.make(n=100). Class names come from the dataset's `classes` attribute when it has one.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset

from graphstore.nn.errors import DatasetInvalid, DatasetMissing
from graphstore.nn.foreign import ForeignError, call, import_callable
from graphstore.nn.weights_file import first_line

TORCHVISION = "torchvision.datasets"


@dataclass
class ForeignDataset:
    """A dataset built outside graphstore's registry, and how it was built (for the run record)."""

    data: Dataset[Any] | DataLoader[Any]
    record: dict[str, Any]


def is_foreign_dataset(name: str) -> bool:
    """Whether `name` is a MODULE:CALLABLE or a CamelCase torchvision class name (not a registry name)."""
    return ":" in name or name[:1].isupper()


def load_foreign_dataset(name: str, options: Mapping[str, Any], split: str) -> ForeignDataset:
    """The Dataset (or DataLoader) `name` builds with `options`; `split` picks torchvision's train/test part."""
    if ":" in name:
        made = call(import_callable(name, "--dataset"), name, options, "--data")
        if not isinstance(made, (Dataset, DataLoader)):
            raise ForeignError(
                f"{name} returned a {type(made).__name__}, not a torch Dataset or DataLoader.",
                "Return a Dataset of (input, label) pairs, e.g. torch.utils.data.TensorDataset(inputs, labels).",
            )
        return ForeignDataset(made, {"source": name, "options": {k: repr(v) for k, v in options.items()}})
    return torchvision_dataset(name, options, split)


def torchvision_class(name: str) -> type:
    """torchvision.datasets.<name>, a Dataset class; anything else is refused with the close names."""
    import torchvision.datasets as tvd  # deferred: torchvision is slow to import and only this path needs it

    found = getattr(tvd, name, None)
    if isinstance(found, type) and issubclass(found, Dataset):
        return found
    known = [n for n in dir(tvd) if isinstance(getattr(tvd, n), type) and issubclass(getattr(tvd, n), Dataset)]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    raise DatasetInvalid(
        f"--dataset {name}: not a torchvision.datasets class (CamelCase names are torchvision's).",
        (f"Close names: {', '.join(close)}. " if close else "")
        + "Use a lower-case registry name (graphstore train --list), a torchvision class such as MNIST, or "
        "MODULE:CALLABLE returning a Dataset.",
    )


def torchvision_options(cls: type, options: Mapping[str, Any], split: str) -> dict[str, Any]:
    """The constructor arguments: root checked, download=False, train/split from `split`, ToTensor by default."""
    import torchvision.transforms as T  # deferred: torchvision is slow to import and only this path needs it

    opts = dict(options)
    if opts.get("download"):
        raise DatasetInvalid(
            "graphstore never downloads datasets (download=True given).",
            "Download it yourself into root, then pass --data-opt root=DIR.",
        )
    if not opts.get("root"):
        raise DatasetMissing(
            f"--dataset {cls.__name__} needs the folder holding its files.", "Pass --data-opt root=DIR."
        )
    root = Path(str(opts["root"])).expanduser()
    if not root.exists():
        raise DatasetMissing(
            f"The root folder {root} of {cls.__name__} does not exist.",
            "Put the files there in torchvision's layout (graphstore never downloads), or pass another root=.",
        )
    opts["root"] = str(root)
    takes = inspect.signature(cls).parameters
    if "download" in takes:
        opts["download"] = False
    if "train" in takes and "train" not in opts:
        opts["train"] = split == "train"
    elif "split" in takes and "split" not in opts:
        opts["split"] = split
    size = opts.pop("resize", None)
    if "transform" in takes and "transform" not in opts:
        opts["transform"] = T.Compose([*([T.Resize((int(size), int(size)))] if size else []), T.ToTensor()])
    return opts


def torchvision_dataset(name: str, options: Mapping[str, Any], split: str) -> ForeignDataset:
    """torchvision.datasets.<name>(**options) from files under root, never downloaded."""
    cls = torchvision_class(name)
    opts = torchvision_options(cls, options, split)
    try:
        made = cls(**opts)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, FileNotFoundError, ... for missing files
        raise DatasetMissing(
            f"{TORCHVISION}.{name}(root={opts['root']!r}) cannot read its files: {type(exc).__name__}: "
            f"{first_line(exc)}",
            f"Put {name}'s files under {opts['root']} in torchvision's layout (graphstore never downloads).",
        ) from None
    shown = {k: repr(v) for k, v in opts.items() if k != "transform"}
    return ForeignDataset(made, {"source": f"{TORCHVISION}:{name}", "options": shown})
