"""000's experiment (coactivation-hierarchy): pieces by hand, and a shortened smoke run on the planted tree that
must recover the tree: RF to the planted tree clearly below the RF of random trees on the same leaves."""

from __future__ import annotations

import random

import pytest

from graphstore.analysis.trees import robinson_foulds
from graphstore.experiments.pipelines.coactivation_hierarchy import (
    PAPER_PRUNE,
    CoactivationHierarchyParams,
    checkpoint_epochs,
    paper_lambda,
    paper_settings,
    reference_for,
    spearman,
)
from graphstore.nn.datasets.planted_tree import class_names, planted_newick


def test_eleven_evenly_spaced_checkpoints():
    assert checkpoint_epochs(100, 11) == (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    assert checkpoint_epochs(250, 11)[1] == 25 and checkpoint_epochs(250, 11)[-1] == 250
    assert checkpoint_epochs(4, 11) == (0, 1, 2, 3, 4) and checkpoint_epochs(7, 1) == (7,)


def test_reference_tree_per_dataset():
    p = CoactivationHierarchyParams
    assert reference_for(p(dataset="fashion-mnist")) == "fashion-mnist" and reference_for(p(dataset="cifar20"))
    assert reference_for(p(dataset="planted-tree", data_opt=("depth=4",))) == "planted-tree:4"
    assert reference_for(p(dataset="digits")) == "" and reference_for(p(dataset="digits", reference="x.nwk"))


def test_000_hyperparameters_with_the_swapped_columns():
    p = paper_settings(CoactivationHierarchyParams(dataset="cifar20", model="conv6", hyperparameters="000"))
    t = p.train  # TrainConfig, nested (issue 20)
    assert (t.epochs, t.lr, t.weight_decay, t.batch_size, t.optimizer, t.schedule) == (
        100,
        0.01,
        1e-4,
        500,
        "sgd",
        "cosine",
    )
    small = paper_settings(CoactivationHierarchyParams(dataset="fashion-mnist", hyperparameters="000"))
    assert (small.train.lr, small.train.weight_decay, small.prune_epochs) == (1e-3, 1e-5, 250)
    assert paper_lambda(small, 0.9) == 1e-3 and paper_lambda(small, 0.5) == 1e-5
    assert len(PAPER_PRUNE) == 6
    with pytest.raises(ValueError, match="no hyperparameters"):
        paper_settings(CoactivationHierarchyParams(dataset="digits", hyperparameters="000"))


def test_spearman_by_hand():
    assert spearman([0.1, 0.5, 0.9], [9.0, 5.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([0.1, 0.5], [1.0, 2.0]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def random_tree(names: list[str], rng: random.Random) -> str:
    """A random rooted binary tree on the names (random joins)."""
    nodes = list(names)
    while len(nodes) > 1:
        a, b = sorted(rng.sample(range(len(nodes)), 2), reverse=True)
        joined = f"({nodes[a]},{nodes[b]})"
        del nodes[a], nodes[b]
        nodes.append(joined)
    return nodes[0] + ";"


def random_rf(depth: int, count: int = 200) -> float:
    """Mean RF of random binary trees to the planted tree (8 leaves: the maximum is 10)."""
    rng = random.Random(0)
    truth = planted_newick(depth)
    return sum(robinson_foulds(truth, random_tree(class_names(depth), rng))[0] for _ in range(count)) / count


def test_smoke_run_recovers_the_planted_tree(tmp_path):
    from graphstore.config import Settings
    from graphstore.experiments.results import load_tables
    from graphstore.experiments.runner import ExperimentParams, run_experiment
    from graphstore.jobs.base import JobContext

    context = JobContext(Settings(data_dir=tmp_path))
    sets = (
        "dataset=planted-tree",
        "data_opt=noise=3",  # the dataset's default noise (the smoke grid's is 5): a tree the net recovers
        "seed=0",
        "epochs=10",
        "checkpoints=2",
        "sparsities=0.5",
        "prune_epochs=4",
        "runs=3",
        "limit=0",
        "threads=1",
    )
    result = run_experiment(context, ExperimentParams(name="coactivation-hierarchy", scale="smoke", sets=sets))
    assert not result.failed, [o.error for o in result.outcomes]
    with context.open_tracking() as tracking:
        tables = load_tables(tracking, result.run_id)
    training = sorted(tables["training"], key=lambda r: r["epoch"])
    assert [r["epoch"] for r in training] == [0, 10]
    final = training[-1]
    assert final["accuracy"] > 0.8 and final["nodes"] > 10 and final["graph"].startswith(f"x{result.run_id}-")
    chance = random_rf(3)
    assert chance > 8.5  # measured: 9.22 for 8 leaves (the maximum is 10)
    assert final["rf_mean"] <= chance - 4, (final, chance)  # the planted tree is recovered
    pruning = {r["sparsity"]: r for r in tables["pruning"]}
    assert set(pruning) == {0.0, 0.5} and pruning[0.0]["rf_mean"] == final["rf_mean"]
    assert pruning[0.5]["nodes"] < final["nodes"]  # pruned units are dead: the graph shrinks
    with context.open_store() as store:
        info = store.graph_info(final["graph"])
    assert info.kind == "coactivation" and info.params["where"] == "post"
