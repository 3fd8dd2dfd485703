"""The planted-tree dataset (000's known answer): deterministic, its Newick, subtree classes closer, registry use."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.analysis.trees import leaves, reference_tree, robinson_foulds
from graphstore.nn.datasets import load_dataset
from graphstore.nn.datasets.planted_tree import PlantedTree, class_means, planted_arrays, planted_newick
from graphstore.nn.errors import InvalidParams
from graphstore.nn.models import make_model


def test_newick_is_the_complete_binary_tree():
    assert planted_newick(2) == "((c00,c01),(c10,c11));"
    assert len(leaves(planted_newick(4))) == 16
    assert reference_tree("planted-tree") == planted_newick(3) and reference_tree("planted-tree:4") == planted_newick(4)


def test_classes_under_one_subtree_are_closer():
    means = class_means(3, 4000, 1.0, np.random.default_rng(0))
    d2 = ((means[:, None] - means[None]) ** 2).sum(-1) / 4000  # per dimension: 2 * spread^2 * levels below the LCA
    assert d2[0, 1] == pytest.approx(2, rel=0.1)  # siblings c000, c001
    assert d2[0, 2] == pytest.approx(4, rel=0.1)  # cousins under c0
    assert d2[0, 7] == pytest.approx(6, rel=0.1)  # across the root


def test_deterministic_given_the_seed_and_split(tmp_path):
    a, b = planted_arrays(PlantedTree(seed=3)), planted_arrays(PlantedTree(seed=3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], planted_arrays(PlantedTree(seed=4))[0])
    data = load_dataset("planted-tree", tmp_path, depth=2, per_class=20)
    assert data.info.class_names == ("c00", "c01", "c10", "c11") and data.info.input_shape == (1, 8, 8)
    assert sum(data.size(s) for s in ("train", "val", "test")) == 80
    assert robinson_foulds(data.meta["reference_tree"], planted_newick(2))[0] == 0
    flat = load_dataset("planted-tree", tmp_path, vector=True, size=4)
    assert flat.info.input_shape == (16,)
    assert make_model("small-cnn", data.info) is not None and make_model("mlp", flat.info) is not None
    with pytest.raises(InvalidParams):
        PlantedTree(depth=9)
