"""What `data` means to gs.extract / gs.ingest and to `graphstore ingest --model`: a torch Dataset or DataLoader of
(input, label) pairs, or a registry dataset.

A registry name ("digits", "mnist", ...) is loaded from <data_dir>/datasets (never downloaded) and one split of it
becomes a TensorDataset; its class names come from the registry. A user's Dataset gives its class names through a
`classes` attribute (as torchvision's do) or the caller's `class_names=`. Every source is described for the run
record by its class and length, never by its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from graphstore.extract.hooks_data import DataError, batches_of, describe, first_batch
from graphstore.nn.datasets import load_dataset


@dataclass
class Data:
    """The data to record from, its class names when known, and its description for the run record."""

    source: Dataset[Any] | DataLoader[Any]
    class_names: list[str] | None
    record: dict[str, Any] = field(default_factory=dict)


def qualified_name(cls: type) -> str:
    """`module:qualname` of a class (how the run record names a model or dataset class)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_data(
    data: Any, *, split: str = "test", data_dir: str | Path | None = None, class_names: Sequence[str] | None = None
) -> Data:
    """A Dataset or DataLoader as given, or registry dataset `data` (its `split`, as a TensorDataset)."""
    if isinstance(data, str):
        return registry_data(data, split, data_dir, class_names)
    if not isinstance(data, (Dataset, DataLoader)):
        raise DataError(
            f"data is {describe(data)}; expected a torch Dataset or DataLoader of (input, label) pairs, or a "
            "registry dataset name.",
            "Wrap tensors as torch.utils.data.TensorDataset(inputs, labels), or pass e.g. 'digits'.",
        )
    dataset = data.dataset if isinstance(data, DataLoader) else data
    names = list(class_names) if class_names is not None else own_class_names(dataset)
    record: dict[str, Any] = {"class": qualified_name(type(dataset))}
    try:
        record["len"] = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        record["len"] = None
    return Data(data, names, record)


def own_class_names(dataset: Any) -> list[str] | None:
    """A dataset's `classes` attribute when it is a list of names (torchvision's convention), else None."""
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


def registry_data(
    name: str,
    split: str,
    data_dir: str | Path | None,
    class_names: Sequence[str] | None,
    params: dict[str, Any] | None = None,
) -> Data:
    """One split of a registry dataset (with its `params`) as a TensorDataset, normalised as graphstore's training
    sees it."""
    loaded = load_dataset(name, data_dir, **(params or {}))
    if split not in loaded.splits:
        raise DataError(f"Dataset {name} has no {split!r} split.", f"Use split= one of: {', '.join(loaded.splits)}.")
    x, y = loaded.tensors(split)
    names = list(class_names) if class_names is not None else list(loaded.info.class_names)
    record = {
        "class": f"graphstore registry:{loaded.spec.name}",
        "len": len(x),
        "split": split,
        **loaded.spec.to_dict(),
    }
    return Data(TensorDataset(x, y), names, record)


def example_input(data: Data | torch.Tensor) -> torch.Tensor:
    """One input (batch of 1) to trace the model with: a tensor as given (batch first), else the data's first."""
    if isinstance(data, torch.Tensor):
        return data[:1]
    loader, _ = batches_of(data.source, 1, 1)
    x, _ = next(first_batch(loader))
    return x[:1]


def labelled_classes(data: Data, labels: torch.Tensor | Any) -> list[str]:
    """The data's class names, or "0".."max label" when it has none; a label outside the names is refused."""
    top = int(max(labels)) if len(labels) else -1
    if data.class_names is None:
        return [str(i) for i in range(top + 1)]
    if top >= len(data.class_names):
        raise DataError(
            f"A label is {top} but the data names {len(data.class_names)} classes.",
            "Pass class_names= with one name per class index.",
        )
    return data.class_names
