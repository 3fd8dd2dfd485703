"""Iterative magnitude pruning: exact schedule, threshold selection, scopes, layer choice, rewinding, CLI run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.nn import load_dataset, make_model
from graphstore.nn.config import TrainConfig
from graphstore.nn.errors import InvalidParams
from graphstore.nn.params import from_mapping
from graphstore.pruning import ImpParams
from graphstore.pruning.common import PruningError, Start, rewind, select_layers, sparsity_of, weight_masks
from graphstore.pruning.imp import expected_sparsity, kth_smallest, magnitude_prune, run_imp


def layers_of(seed: int = 0, scales: tuple[float, ...] = (1.0, 3.0, 0.5)) -> dict[str, torch.Tensor]:
    """Random weights of a few differently scaled layers."""
    g = torch.Generator().manual_seed(seed)
    shapes = ((300, 40), (64, 32, 3, 3), (10, 300))
    pairs = zip(shapes, scales, strict=True)
    return {f"l{i}.weight": torch.randn(s, generator=g) * k for i, (s, k) in enumerate(pairs)}


def test_fifteen_rounds_at_twenty_percent_give_96_5_percent() -> None:
    weights = layers_of()
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()}
    for _ in range(15):
        alive = sum(int(m.sum()) for m in masks.values())
        new = magnitude_prune(weights, masks, 0.2)
        assert alive - sum(int(m.sum()) for m in new.values()) == round(0.2 * alive)
        assert all(bool((new[k] <= masks[k]).all()) for k in new)  # pruned stay pruned
        masks = new
    assert round(sparsity_of(masks), 3) == 0.965
    assert abs(sparsity_of(masks) - expected_sparsity(0.2, 15)) < 1e-4


@pytest.mark.parametrize("sample", [1 << 20, 500])
def test_kth_smallest_matches_a_full_sort_with_exclusions_and_ties(sample: int) -> None:
    g = torch.Generator().manual_seed(1)
    scores = [torch.randint(0, 50, (20_000,), generator=g).float(), torch.rand(7_000, generator=g)]
    scores[0][:3000] = -1.0  # excluded (already pruned)
    valid = torch.cat(scores)
    valid = valid[valid >= 0]
    for k in (1, 17, 5000, valid.numel() // 2, valid.numel()):
        value, at_most = kth_smallest(scores, k, valid.numel(), sample_size=sample)
        assert value == float(valid.sort().values[k - 1]) and at_most == int((valid <= value).sum())


def test_ties_at_the_threshold_still_prune_exactly_k() -> None:
    weights = {"a.weight": torch.ones(10, 10), "b.weight": torch.full((5,), 2.0)}
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()}
    new = magnitude_prune(weights, masks, 0.3)
    assert int(new["a.weight"].sum()) == 100 - 32 and bool(new["b.weight"].all())


def test_layer_wise_prunes_each_layer_by_p_global_by_magnitude() -> None:
    weights = layers_of()
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()}
    per_layer = magnitude_prune(weights, masks, 0.5, scope="layer")
    for key, w in weights.items():
        assert int((~per_layer[key]).sum()) == round(0.5 * w.numel())
        assert float(w.abs()[~per_layer[key]].max()) <= float(w.abs()[per_layer[key]].min())
    glob = magnitude_prune(weights, masks, 0.5, scope="global")
    removed = {k: 1 - float(m.float().mean()) for k, m in glob.items()}
    assert removed["l1.weight"] < 0.5 < removed["l2.weight"]  # the scale-3 layer loses least
    dropped = torch.cat([w.abs()[~glob[k]] for k, w in weights.items()])
    kept = torch.cat([w.abs()[glob[k]] for k, w in weights.items()])
    assert float(dropped.max()) <= float(kept.min())
    with pytest.raises(ValueError, match="scope"):
        magnitude_prune(weights, masks, 0.5, scope="nope")


def test_layer_choice_conv_only_and_output_exclusion() -> None:
    data = load_dataset("digits", size=16)
    model = make_model("small-cnn", data.info)
    assert [n for n, _ in select_layers(model, "conv")] == ["conv1", "conv2"]
    assert [n for n, _ in select_layers(model, "all", exclude_output=True)][-1] == "fc2"
    assert [n for n, _ in select_layers(model, "linear")][-1] == "out"
    with pytest.raises(PruningError) as err:
        select_layers(model, "dense")
    assert "all, conv, linear" in str(err.value.hint)
    with pytest.raises(InvalidParams, match="layers"):
        from_mapping(ImpParams, {"layers": "dense"}, "imp")


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rate_outside_zero_one_is_a_clear_error(rate: float) -> None:
    with pytest.raises(InvalidParams, match=r"\[0, 1\)"):
        from_mapping(ImpParams, {"rate": rate}, "imp")


def mlp_start() -> Start:
    """An untrained mlp on 8x8 digits with its theta_0 (training is not needed to test the mechanics)."""
    data = load_dataset("digits", size=8, limit=300)
    torch.manual_seed(0)
    model = make_model("mlp", data.info, {"hidden": (24,)})
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # "trained" weights differ from theta_0
    return Start(model, data, theta0)


def test_rewind_restores_theta0_weight_by_weight(tmp_path: Path) -> None:
    start = mlp_start()
    params = ImpParams(rounds=2, rate=0.5, layers="all", track_topology=False)
    run = run_imp(start, params, TrainConfig(epochs=0), tmp_path, None, progress=False)
    assert [round(r.sparsity, 2) for r in run.rounds] == [0.0, 0.5, 0.75]
    from graphstore.nn.checkpoint import load_checkpoint

    assert all(m.all() for m in load_checkpoint(run.rounds[0].checkpoint).masks.values())
    state = start.model.state_dict()
    alive = {name: state[name] != 0 for name in ("fc1.weight", "out.weight")}
    for name, keep in alive.items():
        assert torch.equal(state[name][keep], start.theta0[name][keep])  # survivors are exactly theta_0
    total = sum(k.numel() for k in alive.values())
    after_one = total - round(0.5 * total)
    assert sum(int(k.sum()) for k in alive.values()) == after_one - round(0.5 * after_one)
    assert torch.equal(state["fc1.bias"], start.theta0["fc1.bias"])  # biases rewound, never pruned


def test_rewind_none_keeps_trained_weights_and_pure_rewind_helper() -> None:
    start = mlp_start()
    masks = weight_masks(start.model, select_layers(start.model))
    masks["fc1.weight"][0] = False
    trained = {k: v.clone() for k, v in start.model.state_dict().items()}
    rewind(start.model, None, masks)
    w = start.model.state_dict()["fc1.weight"]
    assert torch.equal(w[1:], trained["fc1.weight"][1:]) and not w[0].any()
    rewind(start.model, start.theta0, masks)
    assert torch.equal(start.model.state_dict()["fc1.weight"][1:], start.theta0["fc1.weight"][1:])


def cli_app() -> typer.Typer:
    from graphstore.cli import prune_cmd

    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    prune_cmd.register(app)
    prune_cmd.register(app)  # idempotent: other pruning modules call it too
    return app


def test_cli_two_rounds_end_to_end_with_checkpoints_and_tracked_runs(tmp_path: Path) -> None:
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    args = [
        "prune",
        "imp",
        "-m",
        "mlp",
        "--model-opt",
        "hidden=32",
        "--data-opt",
        "size=8",
        "--data-opt",
        "limit=300",
        "--epochs",
        "2",
        "--rounds",
        "2",
        "--rate",
        "0.5",
        "--rewind",
        "epoch",
        "--rewind-epoch",
        "1",
        "--no-progress",
    ]
    result = CliRunner().invoke(cli_app(), args, env=env)
    assert result.exit_code == 0, result.output
    assert "round 2/2: sparsity 75.00%" in result.output and "test_acc" in result.output
    names = sorted(p.name for p in (tmp_path / "runs" / "2").iterdir())
    checkpoints = ["round_0_epoch_2.pt", "round_1_epoch_2.pt", "round_2_epoch_2.pt"]
    assert names == sorted([*checkpoints, *(f"{c}.sha256" for c in checkpoints)])  # each with its digest sidecar
    from graphstore.tracking import open_tracking

    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        run = tracking.get_run(2)
        assert run.kind == "prune-imp" and run.parent_run_id == 1 and run.status == "completed"
        assert run.params["method"]["rewind"] == "epoch" and run.params["train"]["epochs"] == 2
        sparsity = {m.step: m.value for m in tracking.list_metrics(2, name="sparsity")}
        assert sparsity == pytest.approx({0: 0.0, 1: 0.5, 2: 0.75}, abs=1e-3)
        accuracy = {m.step: m.value for m in tracking.list_metrics(2, name="acc", split="test")}
        assert sorted(accuracy) == [0, 1, 2] and all(0 <= a <= 1 for a in accuracy.values())
        assert [(c.round, round(c.sparsity, 2)) for c in tracking.list_checkpoints(2)] == [(0, 0), (1, 0.5), (2, 0.75)]
    bad = CliRunner().invoke(cli_app(), ["prune", "imp", "--rate", "1.0", "-m", "mlp"], env=env)
    assert isinstance(bad.exception, InvalidParams) and "[0, 1)" in str(bad.exception)
    listing = CliRunner().invoke(cli_app(), ["prune", "imp", "--layers", "dense"], env=env)
    assert listing.exit_code == 2 and "conv" in listing.output
    group = CliRunner().invoke(cli_app(), ["prune"], env=env)
    assert "imp" in group.output and "topology" in group.output
    assert math.isclose(expected_sparsity(0.5, 2), 0.75)


def test_conv_only_run_leaves_linear_layers_dense(tmp_path: Path) -> None:
    from graphstore.nn.checkpoint import cpu_state, load_checkpoint

    data = load_dataset("digits", size=8, limit=300)
    torch.manual_seed(0)
    model = make_model("small-cnn", data.info)
    start = Start(model, data, cpu_state(model))
    params = ImpParams(rounds=1, rate=0.5, layers="conv", scope="layer", track_topology=False)
    run = run_imp(start, params, TrainConfig(epochs=0), tmp_path, None, progress=False)
    masks = load_checkpoint(run.rounds[0].checkpoint).masks
    assert sorted(masks) == ["conv1.weight", "conv2.weight"]
    state = model.state_dict()
    for name in ("conv1.weight", "conv2.weight"):
        assert float((state[name] == 0).float().mean()) == pytest.approx(0.5, abs=1e-3)
    assert bool((state["fc1.weight"] != 0).all()) and bool((state["out.weight"] != 0).all())


def test_chunked_bracket_path_with_ties_across_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphstore.pruning.imp as imp

    monkeypatch.setattr(imp, "CHUNK", 1000)
    monkeypatch.setattr(imp, "SAMPLE", 2000)
    g = torch.Generator().manual_seed(5)
    weights = {
        f"l{i}.weight": torch.randint(-40, 40, shape, generator=g).float()
        for i, shape in enumerate(((90, 100), (33, 7, 3, 3), (4000,)))
    }
    masks = {k: torch.rand(w.shape, generator=g) < 0.9 for k, w in weights.items()}
    for forced in (None, {"l1.weight": torch.rand(weights["l1.weight"].shape, generator=g) < 0.3}):
        new = magnitude_prune(weights, masks, 0.37, forced=forced)
        alive = sum(int(m.sum()) for m in masks.values())
        assert sum(int(m.sum()) for m in new.values()) == alive - round(0.37 * alive)
        kept = torch.cat(
            [w.abs()[new[k] & ~(forced or {}).get(k, torch.zeros_like(new[k]))] for k, w in weights.items()]
        )
        dropped = torch.cat([w.abs()[masks[k] & ~new[k]] for k, w in weights.items()])
        assert float(dropped.max()) <= float(kept.min()) and all(bool((new[k] <= masks[k]).all()) for k in new)
        if forced:
            assert bool(new["l1.weight"][forced["l1.weight"] & masks["l1.weight"]].all())


def test_ctrl_c_between_rounds_marks_the_pruning_run_interrupted_after_that_round(tmp_path: Path) -> None:
    from graphstore.tracking import open_tracking

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    params = ImpParams(rounds=3, rate=0.5, track_topology=False)

    def stop_after_first(record) -> None:
        if record.round == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_imp(mlp_start(), params, TrainConfig(epochs=0), tmp_path, url, on_round=stop_after_first)
    with open_tracking(url) as tracking:
        run = tracking.list_runs()[0]
        assert (run.kind, run.status, run.error) == ("prune-imp", "interrupted", "KeyboardInterrupt; after round 1")
        assert sorted({m.step for m in tracking.list_metrics(run.id, name="sparsity")}) == [0, 1]
