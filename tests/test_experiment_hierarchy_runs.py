"""hierarchy-runs (000, issue 22 item 1): each fit records its finest-level communities and those holding no output
neuron, and the shipped claims read those rows as 000 states them (the fits' RF varies; every nested SBM fit has
a community without a class), nested SBM fits only. One real experiment run on a planted graph file (SQLite)."""

from __future__ import annotations

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
