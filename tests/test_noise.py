"""Noise robustness sweep (METHODS D, 003 eq. 4.1): p = 0 is the identity, Jaccard falls with p, accuracy at
p = 0 is the model's own, the CLI prints the table and records a tracked run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.analysis.noise import DEFAULT_P, METRICS, NoiseParams, noise_levels, noise_sweep, perturb
from graphstore.errors import GraphstoreError
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


def test_default_grid_spans_003s_range_and_p1_adds_the_columns_own_variance() -> None:
    assert DEFAULT_P[0] == 0.0 and DEFAULT_P[-1] == 1.0 and list(DEFAULT_P) == sorted(DEFAULT_P)
    assert NoiseParams().p == DEFAULT_P
    # hand check: columns of variance 4 and 0.25 (population variance); at p = 1 the noise has the same variance
    x = np.tile(np.array([[2.0, 0.5], [-2.0, -0.5]], np.float32), (20000, 1))
    assert np.allclose(x.var(axis=0), [4.0, 0.25])
    noise = perturb(x, 1.0, 0) - x
    assert np.allclose(noise.var(axis=0), [4.0, 0.25], rtol=0.03)
    assert np.allclose(perturb(x, 1.0, 0).var(axis=0), [8.0, 0.5], rtol=0.03)
    constant = np.ones((10, 2), np.float32)
    assert np.array_equal(perturb(constant, 1.0, 0), constant)


def test_sweep_follows_003s_definition_on_a_hand_case() -> None:
    """003 eq. 4.1 end to end: the head reads Y = X + N(0, p var_col(X)) and the graph is rebuilt from Y.

    Class = sign of x0 (x0 = +-1, variance 1); x1 (variance 100) is ignored by the head (logits -x0, x0). Per-column
    noise of variance p leaves accuracy Phi(1 / sqrt(p)): 0.977 at p = 0.25, 0.841 at p = 1. Noise scaled by the
    global variance (50.5) would give 0.56; std scaled by p (not variance) 0.99997 at p = 0.25."""
    from math import erf, sqrt

    from graphstore.analysis.noise import sweep_latents
    from graphstore.analysis.similarity import jaccard
    from graphstore.extract.activations import Recorded
    from graphstore.extract.knn import KnnParams, knn_graph, knn_search

    n = 4000
    labels = np.arange(n) % 2
    x0 = np.where(labels == 1, 1.0, -1.0)
    x1 = np.random.default_rng(3).standard_normal(n) * 10.0
    x = np.stack([x0, x1], axis=1).astype(np.float32)
    head = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    rec = Recorded(x, labels.astype(np.int64), labels.astype(np.int64), np.arange(n))
    rows = sweep_latents(rec, head, NoiseParams(p=(0.25, 1.0), k=4, seed=7))
    phi = [0.5 * (1 + erf(1 / sqrt(p) / sqrt(2))) for p in (0.25, 1.0)]
    assert [r.p for r in rows] == [0.0, 0.25, 1.0]
    assert rows[0].accuracy == 1.0 and rows[0].jaccard == 1.0 and rows[0].cns == 1.0
    assert rows[1].accuracy == pytest.approx(phi[0], abs=0.015) and rows[2].accuracy == pytest.approx(phi[1], abs=0.03)
    y = perturb(x, 1.0, 7)
    assert np.allclose((y - x).var(axis=0), [1.0, 100.0], rtol=0.1)
    knn = KnnParams(k=(4,), metric="l1", split="test")
    graph = lambda v: knn_graph("g", rec, *knn_search(v, 4, "l1"), 4, knn, "test")  # noqa: E731
    assert rows[2].jaccard == pytest.approx(jaccard(graph(x), graph(y))[0]) and rows[2].jaccard < 0.5


def test_levels_sorted_with_zero_and_bad_levels_refused() -> None:
    assert noise_levels([1.0, 0.5, 0.5]) == [0.0, 0.5, 1.0]
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(GraphstoreError, match="finite and >= 0"):
            noise_levels([0.1, bad])


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
