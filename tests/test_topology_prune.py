"""T-IMP keeps every layer's maximum spanning forest at every round, on IMP's sparsity schedule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from graphstore.analysis.mst import layer_matrix, layer_topology
from graphstore.nn import load_dataset, make_model
from graphstore.nn.checkpoint import load_checkpoint
from graphstore.nn.config import TrainConfig
from graphstore.pruning import ImpParams, TopologyImpParams
from graphstore.pruning.common import Start, cpu_copy, select_layers
from graphstore.pruning.imp import magnitude_prune
from graphstore.pruning.topology import mst_keep_masks, run_topology


def test_every_round_keeps_each_layers_mst_and_follows_imps_schedule(tmp_path: Path) -> None:
    data = load_dataset("digits", size=8, limit=300)
    torch.manual_seed(0)
    model = make_model("small-cnn", data.info)
    start = Start(model, data, cpu_copy(model))
    params = TopologyImpParams(rounds=3, rate=0.6)
    run = run_topology(start, params, TrainConfig(epochs=1), tmp_path, None, progress=False)
    ckpts = [load_checkpoint(r.checkpoint) for r in run.rounds]
    names = [n for n, _ in select_layers(model)]
    for before, after in zip(ckpts, ckpts[1:], strict=False):
        alive = sum(int(m.sum()) for m in before.masks.values())
        assert sum(int(m.sum()) for m in after.masks.values()) == alive - round(0.6 * alive)  # IMP's schedule
        for name in names:
            key = f"{name}.weight"
            weight = before.state_dict[key].numpy()
            old = layer_topology(name, layer_matrix(weight, before.masks[key].numpy()))
            kept = after.masks[key][torch.from_numpy(old.mst_out), torch.from_numpy(old.mst_in)]
            assert bool((kept | ~before.masks[key][torch.from_numpy(old.mst_out), torch.from_numpy(old.mst_in)]).all())
            new = layer_topology(name, layer_matrix(weight, after.masks[key].numpy()))
            assert math.isclose(new.np2, old.np2, rel_tol=1e-6, abs_tol=1e-9)  # NP preserved at pruning time
            assert new.components == old.components
    assert [round(r.sparsity, 3) for r in run.rounds] == [0.0, 0.6, 0.84, 0.936]
    assert all("np" in r.metrics and "overlap" in r.metrics for r in run.rounds)


def test_forced_mst_survives_a_step_that_plain_imp_would_prune() -> None:
    g = torch.Generator().manual_seed(4)
    linear = torch.nn.Linear(30, 20)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(20, 30, generator=g))
    layers = [("fc", linear)]
    masks = {"fc.weight": torch.ones(20, 30, dtype=torch.bool)}
    forced, summary = mst_keep_masks(layers, masks)
    assert int(forced["fc.weight"].sum()) == 49 and summary["kappa"] == 600 / 49
    weights = {"fc.weight": linear.weight.detach()}
    plain = magnitude_prune(weights, masks, 0.9)
    tight = magnitude_prune(weights, masks, 0.9, forced=forced)
    assert int(plain["fc.weight"].sum()) == int(tight["fc.weight"].sum()) == 60
    must = forced["fc.weight"]
    assert not bool(plain["fc.weight"][must].all()) and bool(tight["fc.weight"][must].all())
    extra = tight["fc.weight"] & ~forced["fc.weight"]
    dropped = ~tight["fc.weight"]
    assert float(weights["fc.weight"].abs()[extra].min()) >= float(weights["fc.weight"].abs()[dropped].max())
    assert issubclass(TopologyImpParams, ImpParams) and np.isclose(summary["np"], summary["np"])


def test_cli_topology_from_a_training_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.test_imp import cli_app

    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    runner = CliRunner()
    trained = runner.invoke(
        cli_app(),
        [
            "prune",
            "imp",
            "-m",
            "mlp",
            "--model-opt",
            "hidden=16",
            "--data-opt",
            "size=8",
            "--data-opt",
            "limit=200",
            "--epochs",
            "1",
            "--rounds",
            "0",
            "--no-progress",
        ],
        env=env,
    )
    assert trained.exit_code == 0, trained.output
    args = ["prune", "topology", "--run", "1", "--rounds", "2", "--rate", "0.5", "--epochs", "1", "--no-progress"]
    result = runner.invoke(cli_app(), args, env=env)
    assert result.exit_code == 0, result.output
    assert "topology run 3 (parent run 1)" in result.output and "round 2/2: sparsity 75.00%" in result.output
    from graphstore.tracking import open_tracking

    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        run = tracking.get_run(3)
        assert run.kind == "prune-topology" and run.parent_run_id == 1 and run.params["method"]["conv_norm"] == "l1"
        assert sorted(m.step for m in tracking.list_metrics(3, name="np")) == [0, 1, 2]
