"""Topology report (METHODS F): kappa* of dense layers, NP against mst.neural_persistence, conv/dense/output
ratios, masks, the per-round table of a 2-round IMP run through the CLI, and 004 App. E's ratios (every layer and
the whole model's "Final Compression") through `graphstore topology` on models of App. E's shapes.

Changed on purpose (issue 9): the output layer's group and ratio were "final" / `kappa_final`, which read as 004's
"Final Compression" (the whole model); they are now "output" / `kappa_output`, and the whole model's 004 ratio is
`kappa_004`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.analysis.mst import kappa_dense, maximum_spanning_forest, neural_persistence, overlap_lower_bound
from graphstore.analysis.topology_report import (
    ROUND_COLUMNS,
    TopologyReportParams,
    checkpoint_topology,
    rounds_table,
)
from graphstore.nn import load_dataset, make_model
from graphstore.nn.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint

ENV_KEYS = {"GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}


def checkpoint_of(tmp_path: Path, name: str, params: dict, masks: dict | None = None, size: int = 8):
    """A saved, untrained checkpoint of `name` on digits (run 3, epoch 0)."""
    data = load_dataset("digits", size=size, limit=200)
    torch.manual_seed(0)
    model = make_model(name, data.info, params)
    ckpt = make_checkpoint(model, data.spec, data.info, 0, masks=masks or {}, run_id=3, metrics={"test_acc": 0.5})
    return load_checkpoint(save_checkpoint(ckpt, tmp_path / f"{name}.pt"))


def test_dense_layers_report_kappa_nm_over_n_plus_m_minus_one(tmp_path: Path) -> None:
    ckpt = checkpoint_of(tmp_path, "mlp", {"hidden": (40, 20)})
    report = checkpoint_topology(ckpt)
    shapes = [(t.n_in, t.n_out) for t in report.layers]
    assert shapes == [(64, 40), (40, 20), (20, 10)] and report.groups == ["dense", "dense", "output"]
    for t in report.layers:
        assert t.kappa == pytest.approx(kappa_dense(t.n_in, t.n_out), rel=1e-12)
        assert t.overlap_bound == pytest.approx(overlap_lower_bound(t.n_in, t.n_out))
    assert report.totals["kappa_output"] == pytest.approx(200 / 29)
    assert report.totals["kappa_004"] == pytest.approx((64 * 40 + 40 * 20 + 200) / (103 + 59 + 29))
    assert report.totals["kappa_dense"] == pytest.approx((64 * 40 + 40 * 20) / (103 + 59))
    assert np.isnan(report.totals["kappa_conv"])


def test_np_equals_direct_neural_persistence(tmp_path: Path) -> None:
    ckpt = checkpoint_of(tmp_path, "mlp", {"hidden": (30,)})
    model = ckpt.build_model()
    report = checkpoint_topology(ckpt)
    direct = []
    for (_, layer), t in zip(model.prunable_layers(), report.layers, strict=True):
        w = layer.weight.detach().abs().numpy()
        out, inp = maximum_spanning_forest(w)
        value, _ = neural_persistence(w[out, inp] / w.max())
        direct.append(value)
        assert t.np2 == pytest.approx(value, rel=1e-6)
        assert t.np_normalized == pytest.approx(value / np.sqrt(t.n_in + t.n_out - 1), rel=1e-6)
    assert report.totals["np"] == pytest.approx(sum(direct), rel=1e-6)


def test_masks_remove_edges_and_conv_groups_with_null(tmp_path: Path) -> None:
    data = load_dataset("digits", size=16, limit=200)
    model = make_model("small-cnn", data.info)
    masks = {"fc1.weight": torch.rand(model.fc1.weight.shape, generator=torch.Generator().manual_seed(0)) > 0.5}
    ckpt = checkpoint_of(tmp_path, "small-cnn", {}, masks, size=16)
    report = checkpoint_topology(ckpt, TopologyReportParams(null=True))
    assert report.groups == ["conv", "conv", "dense", "dense", "output"]
    fc1 = report.layers[2]
    assert fc1.edges == int(masks["fc1.weight"].sum()) and fc1.kappa == fc1.edges / len(fc1.mst_out)
    assert all(t.null_overlap is not None and 0 < t.null_overlap <= 1 for t in report.layers)
    assert 0 < report.totals["overlap"] <= 1 and report.totals["kappa_conv"] == pytest.approx(
        (1 * 32 + 32 * 64) / ((1 + 32 - 1) + (32 + 64 - 1))
    )


def cli_app() -> typer.Typer:
    from graphstore.cli import prune_cmd, robustness_cmd

    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    prune_cmd.register(app)
    robustness_cmd.register(app)
    return app


def test_two_round_imp_run_tabulates_three_rounds(tmp_path: Path) -> None:
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), **ENV_KEYS}
    app = cli_app()
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
        "1",
        "--rounds",
        "2",
        "--rate",
        "0.5",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    rows = rounds_table(tmp_path, 2)
    assert [r[0] for r in rows] == [0, 1, 2]
    sparsity = [r[ROUND_COLUMNS.index("sparsity")] for r in rows]
    assert sparsity == pytest.approx([0.0, 0.5, 0.75], abs=1e-3)
    assert all(r[ROUND_COLUMNS.index("accuracy")] is not None for r in rows)
    table = CliRunner().invoke(app, ["topology", "--run", "2", "--all-rounds", "--format", "csv"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.output.strip().splitlines()
    assert lines[0] == ",".join(ROUND_COLUMNS) and len(lines) == 4
    single = CliRunner().invoke(app, ["topology", "--run", "2", "--round", "1", "--null"], env=env)
    assert single.exit_code == 0 and "kappa_output" in single.output and "kappa_final" not in single.output
    from graphstore.tracking import open_tracking

    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        runs = [r for r in tracking.list_runs() if r.kind == "analysis-topology"]
        assert len(runs) == 2 and all(r.parent_run_id == 2 for r in runs)
        rounds = next(r for r in runs if r.name.endswith("-rounds"))
        for name in ("np", "overlap"):  # the IMP run logs the same measures of the same weights each round
            logged = {m.step: m.value for m in tracking.list_metrics(2, name=name)}
            assert [logged[r[0]] for r in rows] == pytest.approx([r[ROUND_COLUMNS.index(name)] for r in rows])
        assert {m.step: round(m.value, 3) for m in tracking.list_metrics(rounds.id, name="sparsity")} == {
            0: 0.0,
            1: 0.5,
            2: 0.75,
        }
    bad = CliRunner().invoke(app, ["topology", "--all-rounds"], env=env)
    assert bad.exit_code != 0


APP_E_FCN = [88.78822, 50.25126, 50.25126, 50.25126, 50.25126, 9.17431]
APP_E_CNN = [4.19251, 4.19251, 9.99641]


def topology_json(tmp_path: Path, ckpt_path: Path, *extra: str) -> dict:
    """`graphstore topology CHECKPOINT --format json` (two JSON tables: the layers, then the totals)."""
    import json

    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), **ENV_KEYS}
    result = CliRunner().invoke(cli_app(), ["topology", str(ckpt_path), "--format", "json", *extra], env=env)
    assert result.exit_code == 0, result.output
    decoder, text, tables, at = json.JSONDecoder(), result.output, [], 0
    while (start := text.find("[", at)) >= 0:
        value, at = decoder.raw_decode(text, start)
        tables.append(value)
    layers, totals = tables
    return {"layers": layers, "totals": {row["total"]: row["value"] for row in totals}}


@pytest.mark.parametrize("graph", ["channel", "unrolled"])
def test_app_e_ratios_of_the_mnist_fcn_and_cnn_through_the_cli(tmp_path: Path, graph: str) -> None:
    fcn = checkpoint_of(tmp_path, "mlp", {"hidden": (100,) * 5}, size=28)
    out = topology_json(tmp_path, fcn.path, "--conv-graph", graph)
    assert [(r["n_in"], r["n_out"]) for r in out["layers"]] == [(784, 100)] + [(100, 100)] * 4 + [(100, 10)]
    assert [round(r["kappa_004"], 5) for r in out["layers"]] == APP_E_FCN
    assert [round(r["kappa"], 5) for r in out["layers"]] == APP_E_FCN  # dense layers: the measured ratio is 004's
    assert round(out["totals"]["kappa_004"], 5) == 66.77852 and out["totals"]["edges"] == 119_400
    assert round(out["totals"]["kappa"], 5) == 66.77852 and out["totals"]["mst_edges"] == 1_788
    assert round(out["totals"]["kappa_output"], 5) == 9.17431
    cnn = checkpoint_of(tmp_path, "synflow-conv", {}, size=28)
    out = topology_json(tmp_path, cnn.path, "--conv-graph", graph)
    layers = out["layers"]
    assert [r["graph"] for r in layers] == [graph, graph, "dense"] and layers[2]["n_in"] == 25_088
    assert [round(r["kappa_004"], 5) for r in layers] == APP_E_CNN
    assert round(out["totals"]["kappa_004"], 5) == 9.31005
    if graph == "channel":  # the channel graph's own ratio of the 32 -> 32 conv: 1024 / 63
        assert layers[1]["kappa"] == pytest.approx(1024 / 63)
    else:  # the whole layer's Toeplitz graph: 32 x 32 x 9 x 784 edges over 32 x 900 + 32 x 784 - 1 tree edges
        assert (layers[1]["edges"], layers[1]["mst_edges"]) == (32 * 32 * 9 * 784, 32 * 900 + 32 * 784 - 1)
        assert (layers[0]["n_in"], layers[0]["n_out"], layers[0]["mst_edges"]) == (900, 32 * 784, 900 + 32 * 784 - 1)


def test_single_channel_unrolled_conv_measures_app_e_conv_ratio(tmp_path: Path) -> None:
    ckpt = checkpoint_of(tmp_path, "synflow-conv", {"filters": (1,)}, size=28)
    report = checkpoint_topology(ckpt, TopologyReportParams(conv_graph="unrolled"))
    conv = report.layers[0]
    assert (conv.edges, len(conv.mst_out)) == (7_056, 1_683) and round(conv.kappa, 5) == 4.19251
    assert conv.kappa == conv.kappa_004 and conv.components == 1
