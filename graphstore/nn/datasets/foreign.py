"""Datasets nobody registered here, named on the command line: a torchvision.datasets class by name, or a
MODULE:CALLABLE returning a torch Dataset or DataLoader of (input, label) pairs.

`--dataset MNIST --data-opt root=DIR` (or `torchvision.datasets:MNIST`) builds torchvision.datasets.MNIST(root=DIR,
train=<split is train>, download=False, transform=ToTensor()): graphstore never downloads, so a root without the
files is a clear error (a class without a `root` parameter, such as FakeData, needs none). CamelCase names are
torchvision's classes (MNIST, CIFAR10, FashionMNIST, ImageFolder, ...); lower-case names stay graphstore's registry
(`mnist` reads <data_dir>/datasets as `graphstore train` does). `resize=N` adds a resize to N x N before ToTensor
(ImageFolder trees of mixed sizes). `--dataset mypkg.data:make --data-opt n=100` calls mypkg.data.make(n=100), with
train=<split is train> (or split=<split>) added when the callable takes that parameter and --data-opt does not set
it, as for torchvision's classes. Class names come from the dataset's `classes` attribute when it has one.
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
    """The Dataset (or DataLoader) `name` builds with `options`; `split` picks the train/test part of a class or
    callable that takes train= or split=."""
    class_name = torchvision_name(name)
    if class_name is not None:
        return torchvision_dataset(class_name, options, split)
    fn = import_callable(name, "--dataset")
    made = call(fn, name, with_split(fn, options, split), "--data")
    if not isinstance(made, (Dataset, DataLoader)):
        raise ForeignError(
            f"{name} returned a {type(made).__name__}, not a torch Dataset or DataLoader.",
            "Return a Dataset of (input, label) pairs, e.g. torch.utils.data.TensorDataset(inputs, labels).",
        )
    return ForeignDataset(made, {"source": name, "options": {k: repr(v) for k, v in options.items()}})


def split_parameter(fn: Any, options: Mapping[str, Any]) -> str | None:
    """ "train" or "split" when `fn` takes that parameter and `options` do not set it (its own train/test parts)."""
    try:
        takes = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    found = next((p for p in ("train", "split") if p in takes), None)
    return None if found is None or found in options else found


def with_split(fn: Any, options: Mapping[str, Any], split: str) -> dict[str, Any]:
    """`options` with train=<split is train> or split=<split> added where `fn` takes it and they do not set it."""
    parameter = split_parameter(fn, options)
    if parameter is None:
        return dict(options)
    return {**options, parameter: split == "train" if parameter == "train" else split}


def has_own_split(name: str, options: Mapping[str, Any]) -> bool:
    """Whether the foreign dataset `name` gives its own train and test parts (a train= or split= parameter that
    --data-opt leaves to graphstore)."""
    class_name = torchvision_name(name)
    fn = torchvision_class(class_name) if class_name is not None else import_callable(name, "--dataset")
    return split_parameter(fn, options) is not None


def torchvision_name(name: str) -> str | None:
    """The torchvision.datasets class a --dataset names (`MNIST`, `torchvision.datasets:MNIST`), or None for another
    MODULE:CALLABLE."""
    module, _, attr = name.partition(":")
    if module.strip() == TORCHVISION and attr.strip():
        return attr.strip()
    return None if ":" in name else name


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

    if options.get("download"):
        raise DatasetInvalid(
            "graphstore never downloads datasets (download=True given).",
            "Download it yourself into root, then pass --data-opt root=DIR.",
        )
    takes = inspect.signature(cls).parameters
    opts = with_split(cls, options, split)
    if "root" in takes:
        opts["root"] = checked_root(cls, opts.get("root"))
    if "download" in takes:
        opts["download"] = False
    size = opts.pop("resize", None)
    if "transform" in takes and "transform" not in opts:
        opts["transform"] = T.Compose([*([T.Resize((int(size), int(size)))] if size else []), T.ToTensor()])
    return opts


def checked_root(cls: type, root: Any) -> str:
    """The `root` folder of a torchvision class: given, and existing."""
    if not root:
        raise DatasetMissing(
            f"--dataset {cls.__name__} needs the folder holding its files.", "Pass --data-opt root=DIR."
        )
    path = Path(str(root)).expanduser()
    if not path.exists():
        raise DatasetMissing(
            f"The root folder {path} of {cls.__name__} does not exist.",
            "Put the files there in torchvision's layout (graphstore never downloads), or pass another root=.",
        )
    return str(path)


def torchvision_dataset(name: str, options: Mapping[str, Any], split: str) -> ForeignDataset:
    """torchvision.datasets.<name>(**options) from files under root, never downloaded."""
    cls = torchvision_class(name)
    opts = torchvision_options(cls, options, split)
    try:
        made = cls(**opts)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, FileNotFoundError, ... for missing files
        given = ", ".join(f"{k}={v!r}" for k, v in opts.items() if k != "transform")
        raise DatasetMissing(
            f"{TORCHVISION}.{name}({given}) cannot read its files: {type(exc).__name__}: {first_line(exc)}",
            f"Put {name}'s files under {opts['root']} in torchvision's layout (graphstore never downloads)."
            if "root" in opts
            else f"Check the --data-opt names and values against {TORCHVISION}.{name}{inspect.signature(cls)}.",
        ) from None
    shown = {k: repr(v) for k, v in opts.items() if k != "transform"}
    return ForeignDataset(made, {"source": f"{TORCHVISION}:{name}", "options": shown})
