"""`planted-tree`: generated classes that are the leaves of a known binary tree (a known answer for 000's RF).

The class means are a hierarchical Gaussian: the root's mean is 0 and every tree node's mean is its parent's plus
an independent N(0, spread^2 I) offset, so two classes share the offsets above their lowest common ancestor and the
expected squared distance between their means is 2 * spread^2 * d * (levels below the ancestor): classes under the
same subtree are closer. A sample is its class mean plus N(0, noise^2 I). Deterministic given `seed` (and the
split given `split_seed`). Samples are 1 x size x size images (every registry model accepts them; `vector=true`
gives flat vectors of size*size values for the mlp). The tree is `planted_newick(depth)`; the loaded dataset
carries it as meta["reference_tree"], and `graphstore analyze hierarchy --reference planted-tree[:DEPTH]` finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, in_memory
from graphstore.nn.errors import InvalidParams


@dataclass(frozen=True)
class PlantedTree:
    """Classes at the leaves of a complete binary tree of `depth` levels, hierarchical Gaussian means, no files."""

    depth: int = field(default=3, metadata={"help": "Levels of the binary class tree (2**depth classes, 2-6)."})
    size: int = field(default=8, metadata={"help": "Samples are 1 x size x size images (size*size values)."})
    vector: bool = field(default=False, metadata={"help": "Flat vectors of size*size values instead of images."})
    per_class: int = field(default=250, metadata={"help": "Samples per class (before the val/test split)."})
    spread: float = field(default=1.0, metadata={"help": "Std of each tree level's offset of the class means."})
    noise: float = field(default=3.0, metadata={"help": "Std of a sample around its class mean."})
    seed: int = field(default=0, metadata={"help": "Seed of the means and samples."})
    val_fraction: float = field(default=0.1, metadata={"help": "Fraction of all samples held out for validation."})
    test_fraction: float = field(default=0.2, metadata={"help": "Fraction of all samples held out for testing."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/val/test split."})
    limit: int = field(default=0, metadata={"help": "Use at most this many training samples (0 = all)."})

    def __post_init__(self) -> None:
        if not 2 <= self.depth <= 6:
            raise InvalidParams(f"depth={self.depth} is out of range.", "Use 2 to 6 levels (4 to 64 classes).")
        if self.size < 2 or self.per_class < 2:
            raise InvalidParams("size and per_class must be at least 2.", "Pass larger --data-opt values.")
        if self.spread <= 0 or self.noise < 0:
            raise InvalidParams("spread must be positive and noise non-negative.", "Pass other --data-opt values.")


def class_names(depth: int) -> list[str]:
    """Leaf names: 'c' + the leaf's path of left (0) / right (1) turns from the root, e.g. c010."""
    return [f"c{i:0{depth}b}" for i in range(2**depth)]


def planted_newick(depth: int) -> str:
    """The planted class tree in Newick: a complete binary tree whose leaves are class_names(depth)."""

    def clade(prefix: str) -> str:
        if len(prefix) == depth:
            return f"c{prefix}"
        return f"({clade(prefix + '0')},{clade(prefix + '1')})"

    return clade("") + ";"


def class_means(depth: int, dims: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """(2**depth, dims) leaf means: the sum of one N(0, spread^2) offset per tree node on the path from the root."""
    means = np.zeros((1, dims))
    for _ in range(depth):
        children = np.repeat(means, 2, axis=0)
        means = children + rng.normal(0.0, spread, size=children.shape)
    return means


def planted_arrays(params: PlantedTree) -> tuple[np.ndarray, np.ndarray]:
    """All samples (N, size*size) float32, class by class, and their int64 labels."""
    rng = np.random.default_rng(params.seed)
    dims = params.size * params.size
    means = class_means(params.depth, dims, params.spread, rng)
    labels = np.repeat(np.arange(len(means)), params.per_class)
    x = means[labels] + rng.normal(0.0, params.noise, size=(len(labels), dims))
    return x.astype(np.float32), labels.astype(np.int64)


def build(params: PlantedTree, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """Generate, shape and split the samples; the reference tree travels in meta."""
    x, y = planted_arrays(params)
    shape: tuple[int, ...] = (params.size * params.size,) if params.vector else (1, params.size, params.size)
    info = DataInfo("planted-tree", shape, tuple(class_names(params.depth)))
    tensor = torch.from_numpy(x).reshape(len(x), *shape)
    return in_memory(
        spec,
        info,
        {"train": (tensor, torch.from_numpy(y))},
        params.val_fraction,
        params.test_fraction,
        params.split_seed,
        params.limit,
        {"source": "generated (hierarchical Gaussian class means)", "reference_tree": planted_newick(params.depth)},
    )


DATASETS.register(DatasetEntry("planted-tree", PlantedTree, build))
