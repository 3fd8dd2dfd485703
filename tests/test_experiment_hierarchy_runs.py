"""hierarchy-runs (000, issue 22 item 1): each fit records its finest-level communities and those holding no output
neuron, and the shipped claims read those rows as 000 states them (the fits' RF varies; every nested SBM fit has
a community without a class), nested SBM fits only. One real experiment run on a planted graph file (SQLite), and
the smoke run without its graph naming the demo that makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from graphstore.config import Settings
from graphstore.experiments.claims import FAILS, HOLDS, NOT_MEASURABLE, evaluate
from graphstore.experiments.definition import find_definition
from graphstore.experiments.pipelines.hierarchy_runs import lowest_blocks
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.extract.files import write_parquet
from graphstore.graph import Graph
from graphstore.jobs.base import JobContext
from tests.test_hierarchy import planted

CLAIMS = {c.id: c for c in find_definition("hierarchy-runs").claims}


def fits(rfs: list[float], free: list[int], method: str = "nsbm") -> list[dict[str, Any]]:
    """Rows as the pipeline records them, one per seed."""
    return [
        {"seed": s, "method": method, "rf": rf, "blocks": 9, "free_blocks": f}
        for s, (rf, f) in enumerate(zip(rfs, free, strict=True))
    ]


def test_lowest_blocks_counts_the_finest_level_and_its_communities_without_a_class() -> None:
    tree = Graph("t-hierarchy", "hierarchy")
    tree.add_nodes(
        "Community",
        np.arange(6),
        level=np.array([0, 0, 0, 0, 1, 2]),
        classes=np.array(["a,b", "", "c", "", "a,b,c", "a,b,c"], dtype=object),
    )
    assert lowest_blocks(tree) == {"blocks": 4, "free_blocks": 2}


def test_shipped_claims_hold_fail_and_are_not_measurable_as_000_states_them() -> None:
    differ, free = CLAIMS["fits-differ"], CLAIMS["communities-without-classes"]
    varied = fits([0, 3, 0, 2], [5, 3, 4, 5])
    assert evaluate(differ, varied, "smoke").status == HOLDS
    assert evaluate(free, varied, "smoke").status == HOLDS
    same = fits([2, 2, 2, 2], [5, 0, 4, 5])  # identical RF; one fit puts a class in every finest community
    assert evaluate(differ, same, "smoke").status == FAILS
    assert evaluate(free, same, "smoke").status == FAILS  # every fit, not most: 000 gives no exception
    louvain = fits([0, 3, 0, 2], [5, 3, 4, 5], method="louvain-levels")  # not the nested SBM
    assert evaluate(differ, louvain, "smoke").status == NOT_MEASURABLE
    assert evaluate(free, louvain, "smoke").status == NOT_MEASURABLE


def test_a_run_records_blocks_and_free_blocks_per_fit(tmp_path: Path) -> None:
    graph_file = write_parquet(planted(), tmp_path / "planted.parquet")
    sets = (f"graph_file={graph_file}", "graph=", "reference=fashion-mnist", "method=louvain-levels", "seed=0,1,2")
    context = JobContext(Settings(data_dir=tmp_path / "data"))
    out = run_experiment(context, ExperimentParams(name="hierarchy-runs", sets=sets))
    assert not out.failed, [o.error for o in out.failed]
    rows = out.report.tables["runs"] if out.report else []
    assert sorted(r["seed"] for r in rows) == [0, 1, 2]
    for row in rows:
        assert 1 <= row["blocks"] - row["free_blocks"] <= 10, row  # the blocks holding one or more of the 10 classes
        assert row["free_blocks"] >= 0 and row["blocks"] <= 130, row  # 130 neurons
        assert row["rf"] <= 8  # the planted tree is mostly recovered (random trees: about 12)


def test_smoke_without_its_graph_names_the_demo_that_makes_it(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}
    env.pop("GRAPHSTORE_DATABASE_URL", None)
    env.pop("GRAPHSTORE_GRAPH_STORE", None)
    command = [sys.executable, "-m", "graphstore.cli.main", "experiment", "run", "hierarchy-runs", "--set", "seed=0"]
    failed = subprocess.run(
        [*command, "--no-progress"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr  # a failed cell, recorded, resumable
    out = " ".join((failed.stdout + failed.stderr).split())  # rich wraps the hint
    assert "Graph 'planted-coactivation' is not in the store" in out
    assert "graphstore demo --model mlp --dataset planted-tree --prefix planted" in out
    assert "Traceback" not in out and "0 cell(s) completed, 1 failed" in out
