"""`imp-topology` (004): the shipped definition (grids, App. E's values), paper scale naming MNIST's missing files,
and a shortened smoke grid end to end through the experiment runner (real training, IMP and T-IMP jobs, the
topology job on SQLite): the App. E table equals 004's numbers, and IMP and T-IMP prune on the same schedule."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphstore.experiments.base import PIPELINES
from graphstore.experiments.definition import find_definition
from graphstore.experiments.plan import make_plan
from graphstore.experiments.results import compare_to_paper, load_tables, summarise_all
from graphstore.experiments.runner import ExperimentDataMissing, ExperimentParams, run_experiment
from tests.experiment_support import context_at

# both architectures, one seed, one epoch, one round at p = 0.5, 300 training digits, tiny nets
SHORT = ("seed=0", "epochs=1", "rounds=1", "data_opts=limit=300", "fcn_hidden=16", "cnn_filters=2,2")
APP_E = {
    ("fcn", "fc1"): 88.78822,
    ("fcn", "fc2"): 50.25126,
    ("fcn", "fc5"): 50.25126,
    ("fcn", "out"): 9.17431,
    ("fcn", "model"): 66.77852,
    ("cnn", "conv1"): 4.19251,
    ("cnn", "conv2"): 4.19251,
    ("cnn", "out"): 9.99641,
    ("cnn", "model"): 9.31005,
}


def test_definition_grids_and_app_e_values() -> None:
    definition = find_definition("imp-topology")
    pipeline = PIPELINES.get(definition.pipeline)
    smoke, paper = make_plan(definition, pipeline, "smoke"), make_plan(definition, pipeline, "paper")
    assert [(c.params.arch, c.params.seed) for c in smoke.cells] == [(a, s) for a in ("fcn", "cnn") for s in (0, 1, 2)]
    assert len(paper.cells) == 6
    p = paper.cells[0].params
    assert (p.dataset, p.fcn_hidden, p.cnn_filters, p.imp.rate, p.imp.scope) == (
        "mnist",
        (100,) * 5,
        (32, 32),
        0.2,
        "layer",
    )
    assert p.methods == ("imp", "timp") and smoke.cells[0].params.dataset == "mnist-5k"
    values = {(v.table, v.where["arch"], v.where["layer"]): v for v in definition.paper_values}
    assert all(values[("app_e", *key)].value == value for key, value in APP_E.items())
    assert values[("app_e", "fcn", "model")].scale is None and values[("kappa", "fcn", "model")].scale == "paper"
    assert "App. E" in values[("app_e", "cnn", "model")].source


def test_paper_scale_names_the_missing_mnist_files(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    with pytest.raises(ExperimentDataMissing) as exc:
        run_experiment(context, ExperimentParams(name="imp-topology", scale="paper"))
    assert "mnist" in exc.value.message and "train-images-idx3-ubyte" in exc.value.message


def test_short_smoke_grid_end_to_end(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    tic = time.process_time()
    result = run_experiment(context, ExperimentParams(name="imp-topology", sets=SHORT))
    cpu_seconds = time.process_time() - tic  # CPU, not wall: the shared test machine may be loaded many times over
    assert [o.status for o in result.outcomes] == ["completed", "completed"], [o.line() for o in result.outcomes]
    with context.open_tracking() as tracking:
        tables = load_tables(tracking, result.run_id)
        kinds = sorted(
            r.kind for cell in tracking.list_child_runs(result.run_id) for r in tracking.list_child_runs(cell.id)
        )
    assert kinds.count("train") == 2 and kinds.count("prune-imp") == 2 and kinds.count("prune-topology") == 2
    rounds = {(r["arch"], r["method"], r["round"]): r for r in tables["rounds"]}
    assert set(rounds) == {(a, m, r) for a in ("fcn", "cnn") for m in ("imp", "timp") for r in (0, 1)}
    for arch in ("fcn", "cnn"):
        imp, timp = rounds[(arch, "imp", 1)], rounds[(arch, "timp", 1)]
        assert rounds[(arch, "imp", 0)]["np"] == rounds[(arch, "timp", 0)]["np"]  # the same trained start
        assert imp["sparsity"] == pytest.approx(0.5, abs=0.01) and timp["sparsity"] == pytest.approx(0.5, abs=0.01)
        assert all(0 <= r["accuracy"] <= 1 and 0 < r["overlap"] <= 1 for r in (imp, timp))
    assert rounds[("fcn", "timp", 1)]["sparsity"] == rounds[("fcn", "imp", 1)]["sparsity"]  # dense: exact budget
    kappa = {(r["arch"], r["layer"]): r for r in tables["kappa"]}
    assert kappa[("fcn", "model")]["kappa_004"] == pytest.approx((784 * 16 + 160) / (799 + 25))
    assert kappa[("cnn", "conv2")]["kappa_004"] == pytest.approx(9 * 784 / (900 + 784 - 1))
    app_e = {(r["arch"], r["layer"]): r["kappa_004"] for r in tables["app_e"]}
    assert {k: round(app_e[k], 5) for k in APP_E} == APP_E
    definition = find_definition("imp-topology")
    compared = compare_to_paper(definition, summarise_all(definition, tables), "smoke")
    assert len(compared) == 11 and all(c.difference is not None and abs(c.difference) < 5e-6 for c in compared)
    assert cpu_seconds < 90, cpu_seconds  # measured: 33 s of CPU for this test process
