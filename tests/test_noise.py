"""Noise robustness sweep (METHODS D, 003 eq. 4.1): p = 0 is the identity, Jaccard falls with p, accuracy at
p = 0 is the model's own, the CLI prints the table and records a tracked run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.analysis.noise import METRICS, NoiseParams, noise_sweep, perturb
from graphstore.nn import load_dataset, make_model
from graphstore.nn.config import TrainConfig
from graphstore.nn.train import CheckpointSaver, evaluate, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An mlp trained for two epochs on 8x8 digits (checkpoint saved as run 5)."""
    root = tmp_path_factory.mktemp("noise")
    data = load_dataset("digits", root, size=8, limit=600)
    torch.manual_seed(0)
    model = make_model("mlp", data.info, {"hidden": (64, 32)})
    saver = CheckpointSaver(root, 5, data)
    train(model, data, TrainConfig(epochs=2, batch_size=64, lr=3e-3), [saver], progress=False)
    return root, data, model.eval(), saver.saved[-1]


def test_metric_choices_match_knn() -> None:
    from graphstore.extract.knn import METRICS as KNN_METRICS

    assert METRICS == KNN_METRICS


def test_perturb_is_seeded_and_scaled_by_column_variance() -> None:
    x = np.random.default_rng(0).standard_normal((4000, 3)).astype(np.float32) * np.array([1, 5, 0], np.float32)
    assert perturb(x, 0.0, 1) is x
    y = perturb(x, 0.25, 1)
    assert np.array_equal(y, perturb(x, 0.25, 1)) and not np.array_equal(y, perturb(x, 0.25, 2))
    assert np.allclose((y - x).std(axis=0), np.sqrt(0.25) * x.std(axis=0), rtol=0.05, atol=1e-6)


def test_sweep_identity_at_zero_monotone_jaccard_and_model_accuracy(trained) -> None:
    _, data, model, _ = trained
    params = NoiseParams(p=(0.5, 0.0, 0.05, 0.2, 1.0, 2.0), k=8)
    rows = noise_sweep(model, data, params)
    assert [r.p for r in rows] == [0.0, 0.05, 0.2, 0.5, 1.0, 2.0]
    assert rows[0].jaccard == 1.0 and rows[0].cns == 1.0
    assert rows[0].accuracy == pytest.approx(evaluate(model, data, "test")["acc"], abs=1e-9)
    jac = np.array([r.jaccard for r in rows])
    assert np.all(np.diff(jac) <= 0.02) and jac[-1] < jac[1] < 1.0
    assert rows[-1].accuracy <= rows[0].accuracy + 0.02
    assert all(0 <= r.cns <= 1 for r in rows)


def test_limit_and_too_large_k(trained) -> None:
    from graphstore.extract.knn import KTooLarge

    _, data, model, _ = trained
    rows = noise_sweep(model, data, NoiseParams(p=(0.1,), k=4, limit=50, metric="l2"))
    assert len(rows) == 2 and rows[0].jaccard == 1.0
    with pytest.raises(KTooLarge):
        noise_sweep(model, data, NoiseParams(p=(0.1,), k=50, limit=50))


def test_cli_prints_table_and_records_run(trained) -> None:
    from graphstore.cli import robustness_cmd
    from graphstore.tracking import open_tracking

    root, _, _, path = trained
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    robustness_cmd.register(app)
    env = {"GRAPHSTORE_DATA_DIR": str(root), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    result = CliRunner().invoke(
        app, ["noise", str(path), "--p", "0,0.1", "--k", "4", "--limit", "120", "--format", "csv"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "p,jaccard,cns,accuracy" and lines[1].startswith("0.0,1.0,1.0,")
    with open_tracking(f"sqlite:///{root / 'tracking.db'}") as tracking:
        run = [r for r in tracking.list_runs() if r.kind == "analysis-noise"][-1]
        assert run.params["k"] == 4 and run.status == "completed"
        assert {m.step: m.value for m in tracking.list_metrics(run.id, name="p")} == {0: 0.0, 1: 0.1}
        assert {m.step: m.value for m in tracking.list_metrics(run.id, name="jaccard")}[0] == 1.0
    bad = CliRunner().invoke(app, ["noise"], env=env)
    assert bad.exit_code != 0
