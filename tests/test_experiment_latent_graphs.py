"""`latent-graphs` (003): the shipped definition, both studies end to end on a short grid through the experiment
runner (real training, IMP, ingest into the embedded store, noise job, analyses; tracked runs on SQLite), the
paper scale's missing data named, and the pipeline's own helpers on hand-made cases."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest

from graphstore.experiments.base import PIPELINES
from graphstore.experiments.definition import find_definition
from graphstore.experiments.pipelines.latent_graphs import NOISE_P, LatentGraphsParams, hub_class, node_accuracy
from graphstore.experiments.plan import UnknownSetting, make_plan
from graphstore.experiments.results import load_tables
from graphstore.experiments.runner import ExperimentDataMissing, ExperimentParams, run_experiment
from graphstore.graph import Graph
from graphstore.nn.config import TrainConfig
from tests.experiment_support import context_at

# both studies, one seed; 8x8 digits and an MLP keep each training to a second or two (IMP then prunes all layers)
SHORT = (
    "seed=0",
    "dataset=digits",
    "data_opt=size=8",
    "model=mlp",
    "prune_layers=all",
    "epochs=2",
    "window=2",
    "k=4,8",
    "noise_p=0,0.5,1",
    "rounds=1",
    "rates=0.2",
    "threads=1",
)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its children (the machine is shared: wall time is not ours)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def warm_imports() -> None:
    """Import the training and graph stacks (and torch's lazily imported optimiser machinery) before timing."""
    import torch

    import graphstore.jobs.ingest  # noqa: F401
    import graphstore.jobs.prune  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def test_definition_scales_and_paper_values() -> None:
    definition = find_definition("latent-graphs")
    pipeline = PIPELINES.get(definition.pipeline)
    smoke, paper = make_plan(definition, pipeline, "smoke"), make_plan(definition, pipeline, "paper")
    assert [(c.params.seed, c.params.study) for c in smoke.cells] == [
        (s, t) for s in (0, 2, 4) for t in ("training", "imp")
    ]  # three disjoint model pairs (A = seed, B = seed + 1)
    assert smoke.cells[0].params.dataset == "mnist-5k" and smoke.cells[0].params.ks == [4, 8, 16]
    first = paper.cells[0].params
    assert (first.model, first.dataset, first.epochs, first.imp.rounds) == ("resnet18", "cifar100", 25, 15)
    assert first.window_epochs() == [10, 11, 12, 13, 14, 15] and first.rates == (0.2, 0.01)
    assert first.noise_p == NOISE_P and NOISE_P[-1] == 1.0
    values = {(p.table, tuple(sorted(p.where.items())), p.column): p.value for p in definition.paper_values}
    assert values[("seeds", (("k", 16), ("t", 10)), "cns")] == 0.64  # Table 5.5
    assert values[("imp", (("k", 4), ("rate", 0.2), ("round", 15)), "jaccard")] == 0.12  # Table 5.9
    assert values[("imp_rounds", (("rate", 0.2), ("round", 15)), "sparsity")] == 0.96  # Table 5.8
    assert all(p.scale == "paper" for p in definition.paper_values)
    tables = {t.name for t in definition.tables}
    assert {p.table for p in definition.paper_values} <= tables


def test_noise_grid_matches_the_noise_job() -> None:
    from graphstore.analysis.noise import DEFAULT_P

    assert NOISE_P == DEFAULT_P


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    definition = find_definition("latent-graphs")
    pipeline = PIPELINES.get(definition.pipeline)
    with pytest.raises(UnknownSetting, match="study"):
        make_plan(definition, pipeline, "smoke", ("study=pruning",))
    with pytest.raises(UnknownSetting, match="compare_epochs"):
        make_plan(definition, pipeline, "smoke", ("compare_epochs=2,9",))
    with pytest.raises(UnknownSetting, match="at least two epochs"):
        make_plan(definition, pipeline, "smoke", ("window=1",))


def test_paper_scale_names_the_missing_files(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    with pytest.raises(ExperimentDataMissing, match="cifar100") as info:
        run_experiment(context, ExperimentParams(name="latent-graphs", scale="paper"))
    assert str(tmp_path / "data" / "datasets") in info.value.message


def test_short_grid_end_to_end(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    warm_imports()
    tic = cpu_seconds()
    result = run_experiment(context, ExperimentParams(name="latent-graphs", sets=SHORT))
    seconds = cpu_seconds() - tic
    assert [o.status for o in result.outcomes] == ["completed", "completed"], [o.line() for o in result.outcomes]
    with context.open_tracking() as tracking:
        tables = load_tables(tracking, result.run_id)
        cells = tracking.list_child_runs(result.run_id)
        linked = sorted(r.kind for c in cells for r in tracking.list_child_runs(c.id))
        graphs = [g.graph_id for g in tracking.list_graphs()]
    assert linked.count("train") == 3 and linked.count("analysis-noise") == 2 and linked.count("prune-imp") == 1

    training = {r["net"]: r for r in tables["training"]}
    assert set(training) == {"A", "B"} and training["B"]["model_seed"] == 1
    assert len(tables["epochs"]) == 2 * 2 and {(r["t"], r["t_next"]) for r in tables["epochs"]} == {(1, 2)}
    assert len(tables["seeds"]) == 2 * 2
    for row in tables["epochs"] + tables["seeds"] + tables["imp"]:
        assert 0.0 < row["jaccard"] <= 1.0 and 0.0 < row["cns"] <= 1.0

    noise = {(r["k"], r["p"]): r for r in tables["noise"]}
    assert sorted(noise) == [(4, 0.0), (4, 0.5), (4, 1.0), (8, 0.0), (8, 0.5), (8, 1.0)]
    for k in (4, 8):
        assert noise[(k, 0.0)]["jaccard"] == 1.0 and noise[(k, 0.0)]["cns"] == 1.0
        assert noise[(k, 1.0)]["jaccard"] < noise[(k, 0.5)]["jaccard"] < 1.0
        assert noise[(k, 0.0)]["accuracy"] == pytest.approx(training["A"]["test_acc"])
    last_a = [r for r in tables["seeds"] if r["t"] == 2][0]
    assert last_a["acc_a"] == pytest.approx(training["A"]["test_acc"])

    assert [r["k"] for r in tables["knn_stats"]] == [4, 8]
    (cg,) = tables["class_graph"]
    assert cg["classes"] == 10 and cg["hub_degree"] >= 4 and cg["communities"] >= 1

    rounds = {r["round"]: r for r in tables["imp_rounds"]}
    assert rounds[0]["sparsity"] == 0.0 and rounds[1]["sparsity"] == pytest.approx(0.2, abs=1e-3)
    assert [(r["round"], r["k"]) for r in tables["imp"]] == [(1, 4), (1, 8)]

    # graphs landed in the store under the experiment's ids: 2 nets x 2 epochs x 2 k, 2 rounds x 2 k, 1 class graph
    mine = [g for g in graphs if g.startswith(f"x{result.run_id}-")]
    assert len(mine) == 8 + 4 + 1 and any(g.endswith("class-graph") for g in mine)
    assert seconds < 90, seconds


def test_hub_class_and_node_accuracy_by_hand() -> None:
    g = Graph("cg", "class-graph")
    g.add_nodes("Class", [0, 1, 2, 3], name=["a", "b", "c", "d"])
    g.add_edges("NEAR", "Class", "Class", [0, 1, 1, 2], [1, 2, 3, 3], directed=False)
    assert hub_class(g) == ("b", 3)
    s = Graph("s", "knn")
    s.add_nodes("Sample", [0, 1, 2, 3], label=np.array([0, 1, 1, 2]), prediction=np.array([0, 1, 2, 2]))
    assert node_accuracy(s) == 0.75


def test_window_defaults_to_the_last_epochs() -> None:
    assert LatentGraphsParams(train=TrainConfig(epochs=5), window=3).window_epochs() == [3, 4, 5]
    train = TrainConfig(epochs=25)
    assert LatentGraphsParams(train=train, compare_epochs=(12, 10, 11)).window_epochs() == [10, 11, 12]
