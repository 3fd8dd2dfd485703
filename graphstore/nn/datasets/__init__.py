"""Dataset registry: each module here registers datasets; `load_dataset` builds one from a name or spec.

DATASETS.register(DatasetEntry("digits", Digits, build))   # at the end of graphstore/nn/datasets/digits.py
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from graphstore import params as P
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset
from graphstore.nn.registry import Builder, builder_registry
from graphstore.registry import Registry

DatasetBuilder = Callable[[Any, DatasetSpec, Path | None], LoadedDataset]


@dataclass(frozen=True)
class DatasetEntry(Builder[DatasetBuilder]):
    """A registered dataset: name, parameter dataclass, `build(params, spec, data_dir) -> LoadedDataset`."""

    what: ClassVar[str] = "dataset"


DATASETS: Registry[DatasetEntry] = builder_registry("dataset", "graphstore.nn.datasets", "DATASETS")
NOT_RECORDED = ("download",)  # parameters that do not change the data, left out of the recorded spec


def dataset_spec(name: str, params: dict[str, Any] | None = None) -> DatasetSpec:
    """A validated spec with every parameter filled in; unknown names list the known ones."""
    entry = DATASETS.get(name)
    values = P.to_dict(entry.make_params(params))
    return DatasetSpec(entry.name, {k: v for k, v in values.items() if k not in NOT_RECORDED})


def load_dataset(spec: DatasetSpec | str, data_dir: str | Path | None = None, **params: Any) -> LoadedDataset:
    """Load a dataset by spec or name + parameters from files under <data_dir>/datasets (never fetching)."""
    if isinstance(spec, str):
        spec = DatasetSpec(spec, params)
    elif params:
        spec = DatasetSpec(spec.name, {**spec.params, **params})
    entry = DATASETS.get(spec.name)
    values = entry.make_params(spec.params)
    clean = dataset_spec(entry.name, P.to_dict(values))
    return entry.build(values, clean, Path(data_dir) if data_dir is not None else None)


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry (parameter dataclass, summary) of a dataset."""
    return DATASETS.get(name)


__all__ = [
    "DATASETS",
    "DataInfo",
    "DatasetEntry",
    "DatasetSpec",
    "LoadedDataset",
    "dataset_entry",
    "dataset_spec",
    "load_dataset",
]
