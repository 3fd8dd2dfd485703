"""Neural sculpting: unit scores, the accept/roll-back loop, a [4,2,4] task sculpted to a few percent, CLI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import typer
from typer.testing import CliRunner

from graphstore.nn.errors import InvalidParams
from graphstore.pruning import units as U
from graphstore.pruning.sculpt import SculptConfig, build, prune_edges, run_sculpt, sculpt, unit_scores

FAST = {
    "task": "input-separable",
    "widths": (24, 24),
    "epochs": 150,
    "retrain_epochs": 60,
    "p_unit": 65.0,
    "p_edge": 2.5,
    "seed": 2,
}


def test_unit_scores_match_per_row_autograd() -> None:
    model, data = build(SculptConfig(widths=(6, 5)))
    x, y = data.tensors("train")
    scores = unit_scores(model, data)
    expected = torch.zeros(6)
    for row in range(len(x)):  # naive reference: one backward per row, post-ReLU activation of fc1
        h = torch.relu(model.fc1(x[row : row + 1]))
        h.retain_grad()
        out = model.out(torch.relu(model.fc2(h)))
        F.binary_cross_entropy_with_logits(out, y[row : row + 1]).backward()
        expected += (h.detach().abs() * h.grad.abs())[0] / len(x)
    assert torch.allclose(scores["fc1"], expected, atol=1e-6)
    assert scores["fc2"].shape == (5,)


def test_edge_pruning_removes_the_smallest_live_weights_and_only_dead_units_biases() -> None:
    model, _ = build(SculptConfig(widths=(6, 5)))
    masks = prune_edges(model, {}, 10)
    removed = torch.cat([(~masks[f"{n}.weight"]).flatten() for n, _ in model.prunable_layers()])
    magnitudes = torch.cat([m.weight.detach().abs().flatten() for _, m in model.prunable_layers()])
    assert int(removed.sum()) == 10 and magnitudes[removed].max() <= magnitudes[~removed].min()
    assert all(bool(masks[f"{n}.bias"].all()) for n in ("fc1", "fc2", "out"))  # every unit keeps an input
    weights = {n: m for n, m in masks.items() if n.endswith("weight")}
    assert int(sum((~m).sum() for n, m in prune_edges(model, masks, 5).items() if n.endswith("weight"))) == 15
    with torch.no_grad():  # fc2 unit 0 loses its 6 inputs: as in the authors' get_bias_mask, its bias goes too
        model.fc2.weight[0] = 1e-6 * torch.arange(1, 7)
    dead = prune_edges(model, weights, 6)
    assert not dead["fc2.weight"][0].any() and not dead["fc2.bias"][0] and bool(dead["fc2.bias"][1:].all())


def test_authors_init_is_kaiming_normal_with_zero_biases() -> None:
    model, _ = build(SculptConfig(widths=(400, 400)))
    assert all(float(m.bias.detach().abs().max()) == 0.0 for _, m in model.prunable_layers())
    assert abs(float(model.fc2.weight.detach().std()) - (2 / 400) ** 0.5) < 0.003  # default init: 1/sqrt(3*400) = 0.029


def test_sculpting_input_separable_reaches_a_few_percent_density() -> None:
    method = SculptConfig(**FAST)
    model, data = build(method)
    tic = time.process_time()  # CPU seconds: wall time on the shared machine measures the neighbours
    result = sculpt(model, data, method)
    assert time.process_time() - tic < 45
    assert result.met and result.state.acc == 1.0 and result.density <= 0.10
    assert result.arch[0] == 4 and result.arch[-1] == 4 and all(1 <= h <= 8 for h in result.arch[1:-1])
    phases = [s.phase for s in result.steps]
    assert phases[0] == "dense" and "unit" in phases and "edge" in phases
    assert any(not s.accepted for s in result.steps)  # rejections happened and were rolled back
    assert all(s.acc == 1.0 for s in result.steps if s.accepted)
    from graphstore.nn.train import evaluate

    assert evaluate(model, data, "test")["acc"] == 1.0  # the kept state is the model's state
    assert U.weight_density(model, result.state.masks) == result.density


def test_unreachable_threshold_stops_with_a_message_and_keeps_the_last_good_state() -> None:
    method = SculptConfig(**{**FAST, "epochs": 1, "retrain_epochs": 1})
    model, data = build(method)
    result = sculpt(model, data, method)
    assert not result.met and result.density == 1.0 and not any(s.accepted for s in result.steps)
    assert [s.phase for s in result.steps][:2] == ["dense", "unit"]  # the authors prune a dense net below it too
    assert "nothing was pruned" in result.message and "--epochs" in result.message


def test_a_dense_net_below_the_threshold_is_sculpted_when_a_retrained_step_reaches_it() -> None:
    method = SculptConfig(**{**FAST, "epochs": 1})  # as the authors' run/prune.py: only retrained steps are judged
    model, data = build(method)
    result = sculpt(model, data, method)
    assert not result.steps[0].accepted and result.met and result.state.acc == 1.0 and result.density < 0.2
    with pytest.raises(InvalidParams, match="threshold"):
        SculptConfig(threshold=1.5)
    with pytest.raises(InvalidParams, match="percentages"):
        SculptConfig(p_unit=0)


def test_tracked_run_records_every_step_and_a_masked_checkpoint(tmp_path: Path) -> None:
    from graphstore.nn.checkpoint import load_checkpoint
    from graphstore.tracking import open_tracking

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    method = SculptConfig(**{**FAST, "widths": (12, 12), "sweep": True, "p_units": (65.0,), "p_edges": (10.0, 5.0)})
    run = run_sculpt(tmp_path, url, method)
    accepted = [s for s in run.result.steps if s.accepted]
    assert {s.p for s in run.result.steps if s.phase == "edge"} == {10.0, 5.0}
    assert run.result.density == min(s.density for s in accepted)  # the sweep keeps the sparsest accepted net
    assert run.result.p_edge in (10.0, 5.0) and run.result.p_unit == 65.0
    ckpt = load_checkpoint(run.checkpoint)
    assert ckpt.extra["arch"] == run.result.arch and ckpt.metrics["density"] == pytest.approx(run.result.density)
    from graphstore.nn.train import evaluate

    assert evaluate(ckpt.build_model(), build(method)[1], "test")["acc"] == 1.0
    with open_tracking(url) as tracking:
        record = tracking.get_run(int(run.run_id))
        assert record.kind == "prune-sculpt" and record.status == "completed"
        assert record.params["method"]["widths"] == [12, 12]
        steps = tracking.list_metrics(int(run.run_id), name="density")
        assert [m.step for m in steps] == list(range(1, len(run.result.steps) + 1))
        assert len(tracking.list_checkpoints(int(run.run_id))) == 1


def cli_app() -> typer.Typer:
    """A fresh root with a `prune` group holding the sculpt command."""
    from graphstore.cli.prune_sculpt_cmd import attach

    app, group = typer.Typer(), typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    attach(group)
    app.add_typer(group, name="prune")
    return app


def test_cli_sculpt_prints_steps_and_summary(tmp_path: Path) -> None:
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    runner = CliRunner()
    args = [
        "prune",
        "sculpt",
        "--task",
        "input-separable",
        "--widths",
        "8,8",
        "--epochs",
        "150",
        "--retrain-epochs",
        "40",
        "--p-edge",
        "10",
        "--seed",
        "2",
    ]
    result = runner.invoke(cli_app(), args, env=env)
    assert result.exit_code == 0, result.output
    assert "step 1: dense training" in result.output and "kept network: density" in result.output
    bad = runner.invoke(cli_app(), [*args, "--threshold", "2"], env=env)
    assert isinstance(bad.exception, InvalidParams)
    assert "Example:" in runner.invoke(cli_app(), ["prune", "sculpt", "--help"]).output
