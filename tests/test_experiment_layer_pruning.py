"""`layer-pruning` (001): the shipped definition (grids, 001's values), paper scale naming MNIST's missing files,
and one short cell end to end through the experiment runner (real training, delta, pruning and retraining on
SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphstore.experiments.base import PIPELINES
from graphstore.experiments.definition import find_definition
from graphstore.experiments.plan import make_plan
from graphstore.experiments.results import load_tables
from graphstore.experiments.runner import ExperimentDataMissing, ExperimentParams, run_experiment
from tests.experiment_support import context_at

# the pipeline on a small net: medium-cnn, one seed, one epoch, 400 training digits, class maps over 200 images, two
# gammas; the comparison at 1.5 so its "m" row is the sweep's gamma = 1.5 point (and shares its retrained run); a
# second arc weight (g_median on the post-ReLU maps) swept beside g_mean on the response
SHORT = (
    "model=medium-cnn",
    "model_opts=batch_norm=true",
    "dataset=digits",
    "seed=0",
    "epochs=1",
    "data_opts=limit=400",
    "limit=200",
    "gammas=0.5,1.5",
    "aggregates=mean",
    "compare_gamma=1.5",
    "extra_arcs=activation:median",
)


def test_definition_grids_and_001_values() -> None:
    definition = find_definition("layer-pruning")
    pipeline = PIPELINES.get(definition.pipeline)
    smoke, paper = make_plan(definition, pipeline, "smoke"), make_plan(definition, pipeline, "paper")
    assert len(smoke.cells) == 3 and len(paper.cells) == 3
    assert smoke.cells[0].params.arcs() == [("response", "mean"), ("activation", "median")]  # Fig. 14 + Fig. 15
    assert paper.cells[0].params.arcs() == [("response", "mean"), ("response", "median")]
    s = smoke.cells[0].params  # 001's net and data reduced: BN-free VGG16 at 1/8 width, all 5,000 real MNIST digits
    assert (s.model, s.dataset, s.model_opts) == ("vgg16-plain", "mnist-5k", ("resize=32", "width=0.125"))
    assert (s.data_opts, s.train.epochs) == ((), 12)  # trained parents: test accuracy 0.958 +- 0.008 (3)
    assert [c.params.seed for c in smoke.cells] == [0, 1, 2]
    p = paper.cells[0].params
    assert (p.model, p.dataset, p.model_opts) == ("vgg16-plain", "mnist", ("resize=32",))
    assert p.gammas == (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0) and p.weights == ("mean", "median")
    assert (p.train.lr, p.train.batch_size, p.train.patience, p.prune.source) == (1e-4, 128, 3, "response")
    table1 = {(v.where["mode"], v.column): v.value for v in definition.paper_values if v.table == "comparison"}
    assert table1[("m", "accuracy")] == 0.990 and table1[("s", "removed")] == 3 and table1[("m", "removed")] == 5
    fig14 = {
        v.where["gamma"]: v.value
        for v in definition.paper_values
        if v.table == "sweep" and v.where["weight"] == "mean" and v.where["aggregate"] == "mean"
    }
    assert [fig14[g] for g in p.gammas] == [0, 1, 4, 4, 5, 6, 6, 6]
    assert all(v.scale == "paper" for v in definition.paper_values)


@pytest.mark.parametrize("entry", ["activation", "relu:median", "activation:max", ":median"])
def test_a_malformed_extra_arc_is_refused_before_any_training(entry: str) -> None:
    definition = find_definition("layer-pruning")
    with pytest.raises(Exception, match="SOURCE:WEIGHT"):
        make_plan(definition, PIPELINES.get(definition.pipeline), "smoke", [f"extra_arcs={entry}"])


def test_paper_scale_names_the_missing_mnist_files(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    with pytest.raises(ExperimentDataMissing) as exc:
        run_experiment(context, ExperimentParams(name="layer-pruning", scale="paper"))
    assert "mnist" in exc.value.message and "train-images-idx3-ubyte" in exc.value.message
    with context.open_tracking() as tracking:
        assert tracking.list_runs() == []


def test_short_cell_end_to_end(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    tic = time.process_time()
    result = run_experiment(context, ExperimentParams(name="layer-pruning", sets=SHORT))
    cpu_seconds = time.process_time() - tic  # CPU, not wall: the shared test machine may be loaded many times over
    assert [o.status for o in result.outcomes] == ["completed"], [o.line() for o in result.outcomes]
    with context.open_tracking() as tracking:
        tables = load_tables(tracking, result.run_id)
        (cell,) = tracking.list_child_runs(result.run_id)
        (trained,) = tracking.list_child_runs(cell.id)
        retrained = tracking.list_child_runs(trained.id)
    (parent,) = tables["parent"]
    sweep, comparison = tables["sweep"], {r["mode"]: r for r in tables["comparison"]}
    assert trained.kind == "train" and {r.kind for r in retrained} == {"prune-layers"}
    assert len(retrained) == len({tuple(r["removed_layers"]) for r in [*sweep, *comparison.values()]})
    assert [(r["source"], r["weight"], r["gamma"]) for r in sweep] == [
        ("response", "mean", 0.5),
        ("response", "mean", 1.5),
        ("activation", "median", 0.5),
        ("activation", "median", 1.5),
    ]
    for arc in (sweep[:2], sweep[2:]):
        assert arc[0]["removed"] <= arc[1]["removed"] < 4
    for row in [parent, *sweep, *comparison.values()]:
        assert all(0.0 <= row[k] <= 1.0 for k in ("accuracy", "precision", "recall")), row
        assert row["epoch_time"] > 0
    for row in sweep:  # a removal shrinks the model; no removal is the parent's architecture
        assert row["parameters"] < parent["parameters"] if row["removed"] else row["parameters"] == parent["parameters"]
    assert comparison["m"]["removed_layers"] == sweep[1]["removed_layers"]  # g_mean on the response, not g_median
    assert comparison["m"]["run"] == sweep[1]["run"]
    layers = tables["layers"]
    assert [(r["source"], r["layer"]) for r in layers] == [
        (source, f"conv{i}") for source in ("response", "activation") for i in (1, 2, 3, 4)
    ]
    assert [r["nodes"] for r in layers] == [256, 256, 64, 64] * 2
    assert all(0.0 <= r["zero_share"] <= 1.0 and 0.0 <= r["max_delta"] <= 2.3026 for r in layers)
    for arc in (layers[:4], layers[4:]):
        centers = {round(r["max_delta"] / r["switch_mean"], 9) for r in arc if r["max_delta"] > 0}
        assert len(centers) == 1  # a layer's switch gamma is its largest delta over the one mean delta of all nodes
    assert cpu_seconds < 90, cpu_seconds  # the whole file measured 56 s of CPU (all threads)
