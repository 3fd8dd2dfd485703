"""Checkpoints: round trip with masks and theta_0, errors for corrupt or foreign files, run/epoch lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graphstore.nn.checkpoint import (
    VERSION,
    checkpoint_path,
    find_checkpoint,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from graphstore.nn.datasets import dataset_spec
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.errors import CheckpointError
from graphstore.nn.models import make_model

INFO = DataInfo("digits", (1, 16, 16), tuple(str(i) for i in range(10)))
DATA = dataset_spec("digits")


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return make_model("small-cnn", INFO)


def saved(tmp_path: Path, epoch: int = 3, **kwargs) -> tuple[torch.nn.Module, Path]:
    model = small_model()
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.fc1.weight.add_(1.0)
    masks = {
        "conv1.weight": torch.rand(model.conv1.weight.shape) > 0.5,
        "fc1.weight": torch.ones_like(model.fc1.weight, dtype=torch.bool),
    }
    ckpt = make_checkpoint(
        model, DATA, INFO, epoch, masks=masks, theta0=theta0, metrics={"acc": 0.5}, run_id=7, **kwargs
    )
    return model, save_checkpoint(ckpt, tmp_path / "c.pt")


def test_round_trip_with_masks_and_theta0(tmp_path: Path) -> None:
    model, path = saved(tmp_path, round=2)
    ckpt = load_checkpoint(path)
    assert (ckpt.epoch, ckpt.round, ckpt.run_id, ckpt.metrics, ckpt.version) == (
        3,
        2,
        7,
        {"acc": 0.5},
        VERSION,
    )
    assert ckpt.model.name == "small-cnn" and ckpt.dataset == DATA and ckpt.data_info == INFO
    assert set(ckpt.masks) == {"conv1.weight", "fc1.weight"} and ckpt.masks["conv1.weight"].dtype == torch.bool
    assert not torch.equal(ckpt.theta0["fc1.weight"], ckpt.state_dict["fc1.weight"])
    assert torch.equal(ckpt.theta0["fc1.weight"] + 1.0, ckpt.state_dict["fc1.weight"])
    rebuilt = ckpt.build_model()
    conv = rebuilt.conv1.weight.detach()
    assert torch.all(conv[~ckpt.masks["conv1.weight"]] == 0)
    kept = ckpt.masks["conv1.weight"]
    assert torch.equal(conv[kept], model.conv1.weight.detach()[kept])
    x = torch.randn(3, 1, 16, 16)
    model.eval()
    with torch.no_grad():
        model.conv1.weight.mul_(kept)
        assert torch.allclose(model(x), rebuilt(x))
    initial = ckpt.build_model(weights="initial")
    assert torch.equal(initial.fc1.weight, ckpt.theta0["fc1.weight"])
    fraction = 1 - (int(kept.sum()) + model.fc1.weight.numel()) / (kept.numel() + model.fc1.weight.numel())
    assert ckpt.sparsity() == pytest.approx(fraction)


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("just some text\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3), "epoch": 1}, path)
    with pytest.raises(CheckpointError, match="not a graphstore checkpoint"):
        load_checkpoint(path)
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a graphstore checkpoint"):
        load_checkpoint(path)


def test_truncated_and_missing(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="No checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_tampered_payloads(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    for change, message in (
        ({"version": VERSION + 1}, "newer|version"),
        ({"state_dict": [1, 2]}, "corrupt"),
        ({"masks": {"conv1.weight": torch.ones(2, dtype=torch.bool)}}, "mask"),
    ):
        torch.save({**payload, **change}, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / "bad.pt")
    wrong = dict(payload["state_dict"])
    wrong["fc1.weight"] = torch.zeros(5, 5)
    torch.save({**payload, "state_dict": wrong, "masks": {}}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "bad.pt").build_model()


def test_find_by_run_and_epoch(tmp_path: Path) -> None:
    model = small_model()
    for epoch in (0, 1, 2, 10):
        save_checkpoint(make_checkpoint(model, DATA, INFO, epoch, run_id=5), checkpoint_path(tmp_path, 5, epoch))
    save_checkpoint(make_checkpoint(model, DATA, INFO, 4, round=1, run_id=5), checkpoint_path(tmp_path, 5, 4, 1))
    assert checkpoint_path(tmp_path, 5, 2) == tmp_path / "runs" / "5" / "epoch_2.pt"
    assert find_checkpoint(tmp_path, 5, 2).name == "epoch_2.pt"
    assert find_checkpoint(tmp_path, 5).name == "epoch_10.pt"
    assert find_checkpoint(tmp_path, 5, round=1).name == "round_1_epoch_4.pt"
    assert [(r, e) for r, e, _ in list_checkpoints(tmp_path, 5)] == [
        (None, 0),
        (None, 1),
        (None, 2),
        (None, 10),
        (1, 4),
    ]
    assert load_checkpoint(find_checkpoint(tmp_path, 5, 1)).epoch == 1
    with pytest.raises(CheckpointError, match="epoch_10.pt"):
        find_checkpoint(tmp_path, 5, 3)


# ---- integrity: the SHA-256 sidecar, torch's zip CRC-32, finite values (issue 19, M5) -------------------------


def _flip(path: Path, count: int, start: int = 1024) -> None:
    """Invert `count` bytes spread over the file from `start` on (what a failing disk or a bad copy does)."""
    data = bytearray(path.read_bytes())
    step = max(1, (len(data) - start) // count)
    for i in range(start, min(len(data), start + step * count), step):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_save_writes_a_sha256_sidecar_that_load_checks(tmp_path: Path) -> None:
    import hashlib

    from graphstore.nn.checkpoint import digest_path

    _, path = saved(tmp_path)
    sidecar = digest_path(path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar.read_text() == f"{actual}  c.pt\n"  # sha256sum -c reads it
    assert load_checkpoint(path).sha256 == actual
    other = "0" * 64
    sidecar.write_text(f"{other}  c.pt\n")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert other in err.value.message and actual in err.value.message and str(path) in err.value.message
    assert "c.pt.sha256" in err.value.hint
    sidecar.write_text("not a digest\n")
    with pytest.raises(CheckpointError, match="does not hold a SHA-256"):
        load_checkpoint(path)


def test_saving_again_replaces_the_sidecar_and_never_follows_a_planted_link(tmp_path: Path) -> None:
    from graphstore.nn.checkpoint import digest_path

    _, path = saved(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    digest_path(path).unlink()
    digest_path(path).symlink_to(victim)
    path.unlink()
    path.symlink_to(victim)
    _, again = saved(tmp_path)
    assert victim.read_text() == "keep me\n"
    assert not again.is_symlink() and not digest_path(again).is_symlink()
    assert load_checkpoint(again).sha256 == digest_path(again).read_text().split()[0]


def test_flipped_bytes_are_refused_with_or_without_the_sidecar(tmp_path: Path) -> None:
    from graphstore.nn.checkpoint import digest_path

    _, path = saved(tmp_path)
    _flip(path, 400)
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        load_checkpoint(path)
    digest_path(path).unlink()  # a copy without its sidecar: torch's per-record CRC-32 still catches it
    with pytest.raises(CheckpointError, match="CRC-32|corrupt|not a readable"):
        load_checkpoint(path)


def test_non_finite_values_anywhere_are_refused_even_on_pruned_weights(tmp_path: Path) -> None:
    model, path = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    masked_out = ~payload["masks"]["conv1.weight"]
    for group, name in (("state_dict", "conv1.weight"), ("theta0", "conv1.weight"), ("state_dict", "fc1.bias")):
        tensors = {k: v.clone() for k, v in payload[group].items()}
        target = tensors[name]
        if name == "conv1.weight":
            target[masked_out] = float("nan")  # only where the mask zeroes the weight
        else:
            target[0] = float("inf")
        torch.save({**payload, group: tensors}, tmp_path / "nan.pt")  # no sidecar: a user's own file
        with pytest.raises(CheckpointError, match="non-finite") as err:
            load_checkpoint(tmp_path / "nan.pt")
        assert group in err.value.message and name in err.value.message and err.value.hint
