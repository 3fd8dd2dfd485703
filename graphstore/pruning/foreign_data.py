"""The data graphstore's training loop retrains a foreign model on (`prune imp|topology --model MODULE:CALLABLE`),
from the same --dataset values `graphstore ingest --model` takes, resolved by the same code
(graphstore.nn.datasets.foreign): a registry name, a torchvision class by name (`MNIST`, or
`torchvision.datasets:MNIST`) or a MODULE:CALLABLE returning a Dataset (or a DataLoader, whose dataset is used).

The train/test rule: a class or callable with a `train=` or `split=` parameter that --data-opt leaves unset gives
its own parts (train=True / split="train" to train on, train=False / split="test" to test on); any other dataset
is split once, seeded: `test_fraction` of its samples (default 0.2) held out for testing by `split_seed` (default 0),
two --data-opt keys graphstore takes for itself. There is no validation part (the training loop then watches the
training loss). Samples go through the checks ingest applies (an input tensor and one integer label per sample,
graphstore.extract.hooks_data); a label outside the classes is named too. The inputs are used as the dataset gives
them (no normalisation added), as ingest records them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from graphstore import params as P
from graphstore.extract.hooks_data import DataError, first_batch
from graphstore.extract.model_data import Data, own_class_names, registry_data, resolve_data
from graphstore.nn.datasets import DatasetSpec, load_dataset
from graphstore.nn.datasets.base import (
    Batch,
    DataInfo,
    DeviceLoader,
    LoadedDataset,
    Source,
    StreamSource,
    random_split,
    split_meta,
)
from graphstore.nn.datasets.foreign import has_own_split, is_foreign_dataset, load_foreign_dataset
from graphstore.nn.foreign import literal

HOLDOUT = {"test_fraction": 0.2, "split_seed": 0}


def retraining_data(spec: DatasetSpec, data_dir: str | Path) -> LoadedDataset:
    """The train and test splits of the --dataset `spec` (its --data-opt values as given, text)."""
    if not is_foreign_dataset(spec.name):
        return load_dataset(spec, data_dir)
    options = {k: literal(str(v)) for k, v in spec.params.items()}
    holdout = {k: options.pop(k, v) for k, v in HOLDOUT.items()}
    if has_own_split(spec.name, options):
        parts = {s: dataset_of(load_foreign_dataset(spec.name, options, s).data, spec.name) for s in ("train", "test")}
        indices = {s: np.arange(len(cast(Any, d))) for s, d in parts.items()}
        sources = {s: f"{s} part" for s in parts}
        seed = None
    else:
        whole = dataset_of(load_foreign_dataset(spec.name, options, "train").data, spec.name)
        indices = random_split(
            len(cast(Any, whole)), {"test": fraction(holdout["test_fraction"])}, int(seed_of(holdout))
        )
        parts = {s: whole for s in indices}
        sources = {s: "whole dataset, seeded holdout" for s in indices}
        seed = int(seed_of(holdout))
    return foreign_loaded(spec, parts, indices, sources, seed)


def seed_of(holdout: Mapping[str, Any]) -> int:
    """The split_seed, an integer."""
    if not isinstance(holdout["split_seed"], int) or isinstance(holdout["split_seed"], bool):
        raise DataError(f"--data-opt split_seed={holdout['split_seed']!r} is not an integer.", "Example: split_seed=0")
    return holdout["split_seed"]


def fraction(value: Any) -> float:
    """The test_fraction, in (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise DataError(
            f"--data-opt test_fraction={value!r} is not a fraction in (0, 1).",
            "Example: test_fraction=0.2 (the share of samples held out for testing).",
        )
    return float(value)


def dataset_of(made: Any, name: str) -> Dataset[Any]:
    """The map-style Dataset to split: as given, or a DataLoader's; an iterable-style one (no length) refused."""
    dataset = made.dataset if isinstance(made, DataLoader) else made
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise DataError(
            f"--dataset {name} gives an iterable dataset without a length; retraining splits and reshuffles it.",
            "Return a map-style Dataset (with __len__ and __getitem__), e.g. TensorDataset(inputs, labels).",
        )
    if len(dataset) < 2:
        raise DataError(f"--dataset {name} holds {len(dataset)} samples.", "Give at least 2 samples.")
    return cast(Dataset[Any], dataset)


def foreign_loaded(
    spec: DatasetSpec,
    parts: Mapping[str, Dataset[Any]],
    indices: Mapping[str, np.ndarray],
    sources: Mapping[str, str],
    seed: int | None,
) -> LoadedDataset:
    """The LoadedDataset of checked splits, its shape and classes read from the training split."""
    x, _ = next(first_batch(DataLoader(Subset(parts["train"], indices["train"][:2].tolist()), batch_size=2)))
    names = own_class_names(parts["train"]) or [str(i) for i in range(label_count(parts, indices))]
    info = DataInfo(spec.name, tuple(int(d) for d in x.shape[1:]), tuple(names))
    splits: dict[str, Source] = {s: CheckedSource(parts[s], indices[s], len(names)) for s in indices if len(indices[s])}
    if "test" not in splits:
        raise DataError(f"--dataset {spec.name}'s test part is empty.", "Give more samples, or a larger test_fraction.")
    meta = {**split_meta(splits, -1 if seed is None else seed, sources), "rule": "own" if seed is None else "holdout"}
    return LoadedDataset(spec, info, splits, meta)


def label_count(parts: Mapping[str, Dataset[Any]], indices: Mapping[str, np.ndarray]) -> int:
    """1 + the largest label of the splits: a `targets` attribute where the dataset has one, else one pass."""
    top = -1
    for split, dataset in parts.items():
        targets = getattr(dataset, "targets", None)
        if targets is not None and len(targets) == len(cast(Any, dataset)):
            chosen = torch.as_tensor(targets)[torch.from_numpy(indices[split])]
            top = max(top, int(chosen.max()) if len(chosen) else -1)
            continue
        loader = DataLoader(Subset(dataset, indices[split].tolist()), batch_size=256)
        top = max([top, *(int(y.max()) for _, y in first_batch(loader) if len(y))])
    return top + 1


@dataclass
class CheckedSource(StreamSource):
    """One split of a user's Dataset, batched through ingest's checks, labels checked against the classes."""

    classes: int = 0

    def loader(self, *args: Any, **kwargs: Any) -> DeviceLoader:
        """The split's batches on the device (as StreamSource gives them), each checked."""
        out = super().loader(*args, **kwargs)
        out.loader = cast(Any, CheckedBatches(out.loader, self.classes))
        return out


@dataclass
class CheckedBatches:
    """(input, label) batches as ingest checks them; a label outside [0, classes) is a DataError."""

    loader: DataLoader[Any]
    classes: int

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        for x, y in first_batch(self.loader):
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.classes):
                bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
                raise DataError(
                    f"A label is {bad} but the data has {self.classes} classes (0..{self.classes - 1}).",
                    "Give class indices from 0 to the number of classes - 1.",
                )
            yield x, y


def split_data(spec: DatasetSpec, split: str, data_dir: str | Path) -> Data:
    """One split of the --dataset `spec` as ingest takes it: a registry split as ingest --model reads it, a foreign
    dataset's part by the retraining rule above (so `test` is the samples retraining tested on)."""
    if not is_foreign_dataset(spec.name):
        return registry_data(spec.name, split, data_dir, None, {k: literal(str(v)) for k, v in spec.params.items()})
    loaded = retraining_data(spec, data_dir)
    if split not in loaded.splits:
        raise DataError(
            f"--dataset {spec.name} has no {split!r} split.", f"Use --split {' or --split '.join(loaded.splits)}."
        )
    source = cast(CheckedSource, loaded.splits[split])
    data = resolve_data(Subset(source.dataset, source.indices.tolist()), class_names=list(loaded.info.class_names))
    data.record.update({"split": split, **spec.to_dict(), "split_rule": loaded.meta.get("rule")})
    return data


def spec_of(name: str, data_opt: tuple[str, ...] | list[str]) -> DatasetSpec:
    """The DatasetSpec of --dataset NAME --data-opt KEY=VALUE ... (values as text, parsed where used)."""
    return DatasetSpec(name, P.parse_assignments(data_opt, "--data-opt"))
