"""Structured unit pruning with group-HS: per-layer counts, dead units stay dead, BN masking, tracked runs, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.errors import InvalidParams
from graphstore.nn.models import make_model
from graphstore.pruning import units as U
from graphstore.pruning.structured import (
    SPARSITIES_000,
    StructuredConfig,
    prune_counts,
    prune_model,
    run_structured,
    structured_prune,
)

DATA = {"size": 8, "limit": 256}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", **DATA)


def small_cnn(digits, seed: int = 0):
    torch.manual_seed(seed)
    return make_model("small-cnn", digits.info)


def test_small_cnn_counts_at_half_sparsity(digits) -> None:
    model = small_cnn(digits)
    masks = prune_model(model, 0.5)
    assert U.unit_counts(model, masks) == {"conv1": (16, 32), "conv2": (32, 64), "fc1": (32, 64), "fc2": (16, 32)}
    assert "out.weight" in masks and masks["out.weight"].shape == model.out.weight.shape
    assert prune_counts({"a": 32, "b": 64}, 0.675) == {"a": 22, "b": 44}
    assert prune_counts({"a": 32}, 0.99) == {"a": 31}  # never a whole layer
    for p in SPARSITIES_000:
        pruned = small_cnn(digits)
        kept = {name: k for name, (k, _) in U.unit_counts(pruned, prune_model(pruned, p)).items()}
        assert kept == {
            name: n - math.ceil(p * n) for name, n in (("conv1", 32), ("conv2", 64), ("fc1", 64), ("fc2", 32))
        }


def test_saliency_sums_incoming_and_outgoing_l1(digits) -> None:
    model = small_cnn(digits)
    layer = U.unit_layers(model)[1]  # conv2 -> fc1 (flattened C*H*W)
    c, j = layer.size, 5
    hw = model.fc1.weight.shape[1] // c
    expected = model.conv2.weight[j].abs().sum() + model.fc1.weight[:, j * hw : (j + 1) * hw].abs().sum()
    assert float(U.saliency(layer)[j]) == pytest.approx(float(expected.detach()), rel=1e-5)


def activations(model, x) -> dict[str, torch.Tensor]:
    """Post-ReLU outputs of every hidden layer."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out.detach().clone()))
        for n, m in model.named_children()
        if n.startswith("relu")
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_pruned_units_stay_dead_through_fine_tuning(digits) -> None:
    model, grads = small_cnn(digits), {}

    def on_epoch(epoch, metrics, masks) -> None:
        if epoch == 2:
            grads.update({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})

    result = structured_prune(
        model,
        digits,
        StructuredConfig(0.5, prune_epoch=1, lam=1e-3),
        TrainConfig(epochs=2, batch_size=64),
        on_epoch=on_epoch,
    )
    assert [h.get("lam") for h in result.history] == [1e-3, 0.0] and "group_hs" in result.history[0]
    masks, params = result.masks, dict(model.named_parameters())
    for name, mask in masks.items():
        assert (params[name][~mask] == 0).all(), name
        assert (grads[name][~mask] == 0).all(), name
    x = digits.tensors("test")[0][:32]
    acts, alive = activations(model.eval(), x), U.kept_units(model, masks)
    for relu, layer in (("relu1", "conv1"), ("relu2", "conv2"), ("relu_fc1", "fc1"), ("relu_fc2", "fc2")):
        assert (acts[relu][:, ~alive[layer]] == 0).all(), relu
        assert acts[relu][:, alive[layer]].abs().sum() > 0
    assert result.units["conv1"] == (16, 32) and 0 <= result.final["test_acc"] <= 1


def test_bn_masked_by_default_and_keep_bn_gives_constant_channels(digits) -> None:
    x = digits.tensors("test")[0][:16]
    for keep_bn in (False, True):
        model = small_cnn(digits, seed=1)
        with torch.no_grad():
            model.bn1.bias.fill_(0.3)
            model.bn1.running_mean.fill_(-0.1)
        masks = prune_model(model, 0.5, keep_bn=keep_bn)
        dead = ~U.kept_units(model, masks)["conv1"]
        out = activations(model.eval(), x)["relu1"][:, dead]
        if keep_bn:
            assert "bn1.weight" not in masks
            assert (out == out.flatten()[0]).all() and float(out.flatten()[0]) > 0  # relu(beta - gamma*rm/sd)
        else:
            assert (masks["bn1.weight"] == ~dead).all() and (out == 0).all()


def test_sparsity_out_of_range_is_a_clear_error() -> None:
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(InvalidParams, match=r"\[0, 1\)"):
            StructuredConfig(sparsity=bad)
    with pytest.raises(InvalidParams, match="after the last epoch"):
        StructuredConfig(prune_epoch=5).prune_at(3)


def test_tracked_run_from_a_checkpoint_links_its_parent(digits, tmp_path: Path) -> None:
    from graphstore.nn.checkpoint import find_checkpoint, load_checkpoint
    from graphstore.nn.tracked import train_tracked
    from graphstore.pruning.common import load_start
    from graphstore.tracking import open_tracking

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    train_tracked(tmp_path, url, "small-cnn", {}, "digits", DATA, TrainConfig(epochs=1, batch_size=64))
    run = run_structured(
        tmp_path,
        url,
        StructuredConfig(0.75, prune_epoch=1, lam=1e-4),
        TrainConfig(epochs=2, batch_size=64),
        load_start(tmp_path, find_checkpoint(tmp_path, 1)),
        progress=False,
    )
    assert run.run_id == 2 and run.parent_run_id == 1 and [p.name for p in run.saved] == ["epoch_1.pt", "epoch_2.pt"]
    ckpt = load_checkpoint(run.saved[-1])
    assert ckpt.extra["units"]["fc1"] == [16, 64] and ckpt.masks["bn2.bias"].sum() == 16
    assert U.unit_counts(ckpt.build_model(), ckpt.masks)["conv2"] == (16, 64)
    with open_tracking(url) as tracking:
        record = tracking.get_run(2)
        assert record.parent_run_id == 1 and record.status == "completed" and record.kind == "prune-structured"
        assert record.params["method"]["sparsity"] == 0.75
        assert [c.epoch for c in tracking.list_checkpoints(2)] == [1, 2]
        assert [m.step for m in tracking.list_metrics(2, name="units_kept")] == [1, 2]


def cli_app() -> typer.Typer:
    """A fresh root with a `prune` group holding the structured command."""
    from graphstore.cli.prune_structured_cmd import attach

    app, group = typer.Typer(), typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    attach(group)
    app.add_typer(group, name="prune")
    return app


def test_cli_structured_runs_and_rejects_bad_sparsity(tmp_path: Path) -> None:
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    runner, app = CliRunner(), cli_app()
    args = [
        "prune",
        "structured",
        "--model",
        "small-cnn",
        "--dataset",
        "digits",
        "--data-opt",
        "size=8",
        "--data-opt",
        "limit=128",
        "--epochs",
        "2",
        "--prune-epoch",
        "1",
        "--sparsity",
        "0.5",
        "--no-progress",
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "conv2" in result.output and "32/64" in result.output
    bad = runner.invoke(app, [*args[:-2], "1.0"], env=env)
    assert isinstance(bad.exception, InvalidParams) and "[0, 1)" in bad.exception.message
    assert "Example:" in runner.invoke(app, ["prune", "structured", "--help"]).output
