"""Dataset registry: readers on tiny generated files (no downloads), splits, errors, Boolean truth tables."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from graphstore.nn.datasets import DatasetSpec, dataset_spec, load_dataset
from graphstore.nn.datasets.boolean_modular import TASKS, boolean_task
from graphstore.nn.datasets.cifar import CIFAR10_CLASSES, CIFAR100_CLASSES
from graphstore.nn.datasets.mnist import write_idx
from graphstore.nn.errors import DatasetInvalid, DatasetMissing, InvalidParams, UnknownName

CIFAR20 = (
    "fox",
    "porcupine",
    "possum",
    "raccoon",
    "skunk",
    "bear",
    "leopard",
    "lion",
    "tiger",
    "wolf",
    "bicycle",
    "bus",
    "motorcycle",
    "pickup_truck",
    "train",
    "lawn_mower",
    "rocket",
    "streetcar",
    "tank",
    "tractor",
)


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 40, n_test: int = 12, gz: bool = False) -> None:
    """Tiny MNIST-format files whose first pixel is the label (so reading can be checked)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        if gz:
            for kind in ("images-idx3", "labels-idx1"):
                path = raw / f"{prefix}-{kind}-ubyte"
                (raw / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()


def cifar_batch(labels: np.ndarray, key: str) -> dict:
    """A CIFAR batch dict (bytes keys, as the real files) whose first pixel is the label."""
    data = np.random.default_rng(1).integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    data[:, 0] = labels
    return {b"data": data, key.encode(): labels.tolist(), b"batch_label": b"test"}


def dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def write_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    for i in range(1, 6):
        dump(folder / f"data_batch_{i}", cifar_batch(np.arange(10, dtype=np.uint8), "labels"))
    dump(folder / "test_batch", cifar_batch(np.arange(10, dtype=np.uint8), "labels"))
    dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_CLASSES]})


def write_cifar100(root: Path) -> None:
    folder = root / "cifar-100-python"
    fine = np.tile(np.arange(100, dtype=np.uint8), 2)
    for name in ("train", "test"):
        batch = cifar_batch(fine, "fine_labels")
        batch[b"coarse_labels"] = (fine // 5).tolist()
        dump(folder / name, batch)
    dump(
        folder / "meta",
        {"fine_label_names": list(CIFAR100_CLASSES), "coarse_label_names": [f"c{i}" for i in range(20)]},
    )


def test_digits_default_and_splits() -> None:
    data = load_dataset("digits")
    assert data.info.input_shape == (1, 16, 16) and data.info.num_classes == 10
    sizes = {s: data.size(s) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 1797 and sizes["test"] == round(1797 * 0.2)
    idx = np.concatenate([data.splits[s].indices for s in ("train", "val", "test")])
    assert len(np.unique(idx)) == 1797
    again = load_dataset("digits", size=28)
    assert again.info.input_shape == (1, 28, 28)
    assert again.meta["splits"]["test"]["index_hash"] == data.meta["splits"]["test"]["index_hash"]
    other = load_dataset("digits", split_seed=1)
    assert other.meta["splits"]["test"]["index_hash"] != data.meta["splits"]["test"]["index_hash"]
    x, y = data.tensors("train")
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2


def test_loader_batches_are_seeded() -> None:
    data = load_dataset("digits", size=8)
    first = [y for _, y in data.loader("train", batch_size=100, shuffle=True, seed=3)]
    second = [y for _, y in data.loader("train", batch_size=100, shuffle=True, seed=3)]
    assert len(first) == 13 and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_mnist_reads_idx_files(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    data = load_dataset("mnist", root=str(tmp_path), val_fraction=0.25)
    assert data.info.input_shape == (1, 28, 28) and data.info.class_names[3] == "3"
    assert (data.size("train"), data.size("val"), data.size("test")) == (30, 10, 12)
    src = data.splits["train"]
    assert torch.equal(src.x[:, 0, 0, 0].long(), src.y)
    assert data.meta["splits"]["test"]["source"] == "test file"


def test_fashion_mnist_reads_gz_and_data_dir(tmp_path: Path) -> None:
    write_mnist(tmp_path / "datasets", "FashionMNIST", gz=True)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, limit=8)
    assert data.size("train") == 8 and data.info.class_names[0] == "T-shirt/top"


def test_missing_mnist_names_files_and_place(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing) as err:
        load_dataset("mnist", data_dir=tmp_path)
    text = str(err.value)
    assert "train-images-idx3-ubyte" in text and "t10k-labels-idx1-ubyte" in text
    assert str(tmp_path / "datasets" / "MNIST" / "raw") in text and "download" in text


def test_corrupt_idx_is_reported(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"hello world")
    with pytest.raises(DatasetInvalid, match="IDX"):
        load_dataset("mnist", root=str(tmp_path))


def test_cifar10_reads_pickles(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    data = load_dataset("cifar10", root=str(tmp_path), val_fraction=0.2)
    assert data.info.class_names == CIFAR10_CLASSES and data.info.input_shape == (3, 32, 32)
    assert (data.size("train"), data.size("val"), data.size("test")) == (40, 10, 10)
    src = data.splits["val"]
    assert torch.equal(src.x[:, 0, 0, 0].long(), src.y)
    xb, yb = next(iter(data.loader("train", batch_size=16)))
    assert xb.shape == (16, 3, 32, 32) and xb.dtype == torch.float32


def test_missing_cifar_names_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match=r"data_batch_1.*cifar-10-batches-py"):
        load_dataset("cifar10", root=str(tmp_path))
    with pytest.raises(DatasetMissing, match="cifar-100-python"):
        load_dataset("cifar20", root=str(tmp_path))


class RunsShell:
    """A pickle payload that, when unpickled with plain pickle.load, runs `touch marker` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_pickle_that_runs_code_is_refused(tmp_path: Path, protocol: int) -> None:
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    crafted = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch = cifar_batch(np.arange(10, dtype=np.uint8), "labels")
    crafted.write_bytes(pickle.dumps({**batch, b"batch_label": RunsShell(marker)}, protocol=protocol))
    with pytest.raises(DatasetInvalid, match=r"data_batch_3 is not a CIFAR file: it asks to load \S*system"):
        load_dataset("cifar10", root=str(tmp_path))
    assert not marker.exists()
    pickle.loads(crafted.read_bytes())  # the same bytes through plain pickle do run the command
    assert marker.exists()


def test_cifar_pickle_with_any_other_class_is_refused(tmp_path: Path) -> None:
    from collections import OrderedDict

    write_cifar10(tmp_path)
    dump(tmp_path / "cifar-10-batches-py" / "test_batch", OrderedDict(cifar_batch(np.arange(10), "labels")))
    with pytest.raises(DatasetInvalid, match=r"test_batch .*collections\.OrderedDict"):
        load_dataset("cifar10", root=str(tmp_path))


def test_cifar_pickles_of_every_protocol_load(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    for protocol, name in enumerate(
        ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    ):
        batch = cifar_batch(np.arange(10, dtype=np.uint8), "labels")
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    assert load_dataset("cifar10", root=str(tmp_path), val_fraction=0).size("train") == 50


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    fine = load_dataset("cifar100", root=str(tmp_path), val_fraction=0)
    assert fine.info.num_classes == 100 and fine.size("train") == 200 and "val" not in fine.splits
    coarse = load_dataset("cifar100", root=str(tmp_path), labels="coarse")
    assert coarse.info.num_classes == 20 and int(coarse.splits["test"].y.max()) == 19


def test_cifar20_classes_and_relabelling(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    data = load_dataset("cifar20", root=str(tmp_path), val_fraction=0)
    assert data.info.num_classes == 20 and data.info.class_names == CIFAR20
    test = data.splits["test"]
    assert len(test) == 40 and sorted(set(test.y.tolist())) == list(range(20))
    fine_ids = test.x[:, 0, 0, 0].long()  # first pixel holds the original fine label
    names = [CIFAR100_CLASSES[i] for i in fine_ids.tolist()]
    assert names == [CIFAR20[j] for j in test.y.tolist()]
    assert data.meta["superclass"]["wolf"] == "large_carnivores"


def write_tree(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 5) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_imagefolder_random_and_presplit(tmp_path: Path) -> None:
    write_tree(tmp_path / "tree")
    data = load_dataset("imagefolder", path=str(tmp_path / "tree"), size=8, val_fraction=0.2, test_fraction=0.2)
    assert data.info.class_names == ("cat", "dog") and data.info.input_shape == (3, 8, 8)
    assert (data.size("train"), data.size("val"), data.size("test")) == (6, 2, 2)
    xb, yb = next(iter(data.loader("train", batch_size=4, shuffle=True, seed=0)))
    assert xb.shape == (4, 3, 8, 8) and yb.dtype == torch.int64
    for split in ("train", "test"):
        write_tree(tmp_path / "split" / split, per_class=3)
    pre = load_dataset("imagefolder", path=str(tmp_path / "split"), size=8, channels=1)
    assert pre.size("test") == 6 and pre.size("train") + pre.size("val") == 6 and pre.info.in_channels == 1


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match="path="):
        load_dataset("imagefolder")
    with pytest.raises(DatasetMissing, match="101_ObjectCategories"):
        load_dataset("caltech101", root=str(tmp_path))
    write_tree(tmp_path / "caltech101" / "101_ObjectCategories", ("BACKGROUND_Google", "ant", "bee"), 2)
    data = load_dataset("caltech101", root=str(tmp_path), size=8, val_fraction=0, test_fraction=0.5)
    assert data.info.class_names == ("ant", "bee")


def test_unknown_dataset_and_params() -> None:
    with pytest.raises(UnknownName) as err:
        load_dataset("imagenet")
    assert "cifar20" in str(err.value) and "boolean-modular" in str(err.value)
    with pytest.raises(InvalidParams, match="colour"):
        load_dataset("digits", colour=3)
    spec = dataset_spec("mnist", {"download": True})
    assert "download" not in spec.params and DatasetSpec.from_dict(spec.to_dict()) == spec


def rows_where(task_name: str, column: int) -> list[str]:
    x, y = boolean_task(task_name).truth_table()
    return ["".join(map(str, row)) for row in x[y[:, column] == 1]]


def test_boolean_building_blocks() -> None:
    assert rows_where("single", 0) == ["0011", "1010", "1100"]
    assert rows_where("reused", 0) == ["1010", "1100"]  # f = m1 or m2
    assert rows_where("reused", 1) == ["0011", "1010"]  # g = m2 or m3
    g0 = [r[4:] for r in rows_where("overlap-0", 1)]
    assert sorted(set(g0)) == ["0101", "1001", "1111"]


def test_boolean_catalogue_arch_and_ground_truth() -> None:
    archs = {name: boolean_task(name).arch for name in TASKS}
    assert archs["input-separable"] == (4, 2, 4) and archs["separable-reused"] == (6, 3, 3, 3)
    assert archs["overlap-1"] == (7, 3, 2, 8) and archs["overlap-4"] == (4, 1, 2, 2, 8)
    assert archs["depth"] == (8, 2, 1, 2, 4) and archs["single"] == (4, 1, 4)
    assert boolean_task("4,1,2,12").name == "reused" and boolean_task("reused", 16).n_outputs == 16
    assert boolean_task("input-separable").first_level_inputs() == [{0, 1}, {2, 3}]
    x, y = boolean_task("separable-reused").truth_table()
    a, b, c = x[:, 0] & x[:, 1], x[:, 2] & x[:, 3], x[:, 4] & x[:, 5]
    assert np.array_equal(y, np.stack([a | b, a | c, b | c], axis=1))
    with pytest.raises(InvalidParams, match="Known tasks"):
        boolean_task("9,9,9")


def test_boolean_modular_dataset() -> None:
    data = load_dataset("boolean-modular", task="overlap-2", outputs=4)
    assert data.info.task == "multilabel" and data.info.input_shape == (6,) and data.info.num_classes == 4
    assert data.size("train") == 64 == data.size("test")
    truth = data.meta["ground_truth"]
    assert truth["modules_per_level"] == [3, 2] and truth["modules"][0]["inputs"] == [0, 1]
    x, y = data.tensors("train")
    assert x.dtype == torch.float32 and set(torch.unique(x).tolist()) == {0.0, 1.0} and y.shape == (64, 4)
