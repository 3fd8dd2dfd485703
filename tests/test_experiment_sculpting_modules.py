"""`sculpting-modules` (002): the shipped definition, one short grid end to end through the experiment runner (real
sculpting, detection and tracked runs on SQLite), the trial driver's tallies, and a bad task name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphstore.errors import GraphstoreError
from graphstore.experiments.definition import find_definition
from graphstore.experiments.plan import make_plan
from graphstore.experiments.results import load_tables
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.experiments.show import experiment_report
from graphstore.jobs.sculpt_trials import SculptTrial, success_rates
from graphstore.nn.errors import InvalidParams
from tests.experiment_support import context_at

SHORT = ("task=4-1-2-16", "seed=0", "width=16", "epochs=150", "retrain_epochs=40")  # the reused task, one cell


def test_definition_grids_and_paper_values() -> None:
    definition = find_definition("sculpting-modules")
    from graphstore.experiments.base import PIPELINES

    pipeline = PIPELINES.get(definition.pipeline)
    smoke = make_plan(definition, pipeline, "smoke")
    paper = make_plan(definition, pipeline, "paper")
    assert len(smoke.cells) == 4 * 3 and smoke.axes["seed"] == [0, 1, 2]  # 3 seeds (issue 22 item 6)
    assert len(paper.cells) == 14 * 3 * 3 * 4
    rates = {p.where["task"]: p.value for p in definition.paper_values if p.column == "success"}
    assert rates == {"4-2-4": 1.0, "4-1-2-16": pytest.approx(35 / 36, abs=1e-4), "6-3-3-3": 1.0, "4-1-4": 1.0}


def test_short_grid_end_to_end(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    tic = time.process_time()  # CPU time: the machine is shared, so wall time measures the neighbours
    result = run_experiment(context, ExperimentParams(name="sculpting-modules", sets=SHORT))
    seconds = time.process_time() - tic
    assert [o.status for o in result.outcomes] == ["completed"], [o.line() for o in result.outcomes]
    with context.open_tracking() as tracking:
        tables = load_tables(tracking, result.run_id)
        cells = tracking.list_child_runs(result.run_id)
        linked = sorted(r.kind for c in cells for r in tracking.list_child_runs(c.id))
    (row,) = tables["success"]
    assert row["task"] == "4-1-2-16" and row["planted_arch"] == [4, 1, 2, 16] and len(tables["sizes"]) == 1
    assert linked == ["analysis-modules", "prune-sculpt"]
    assert row["met"] == 1.0 and row["acc"] == 1.0 and 0 < row["density"] < 0.2 and row["ground_truth"] == [1, 2]
    assert row["arch"][0] == 4 and row["arch"][-1] == 16 and len(row["arch"]) == 4  # two hidden layers
    assert row["success"] in (0.0, 1.0) and bool(row["success"]) == (row["reason"] == "")
    assert row["protocol"] == "fixed"  # the authors ran no width-16 trial: the grid's own settings apply
    report = experiment_report(context, result.run_id)
    compared = {c.paper.where["task"]: c for c in report.comparisons if c.paper.column == "success"}
    assert compared["4-1-2-16"].ours is not None and compared["4-1-2-16"].ours.n == 1
    assert compared["4-1-2-16"].ours.mean == row["success"] and compared["4-1-2-16"].paper.value == 0.9722
    assert compared["6-3-3-3"].ours is None  # not in the short grid
    assert seconds < 90, seconds


def test_authors_protocol_takes_each_trials_settings_from_their_scripts() -> None:
    from graphstore.experiments.pipelines.sculpting_modules import SculptingModulesParams, method_of
    from graphstore.pruning.params import SculptConfig

    cell = SculptingModulesParams(width=24, depth=2, sculpt=SculptConfig(task="reused", outputs=16, seed=0))
    method, source = method_of(cell)  # the slides' example: lr 0.1, batch 8, 40 epochs, P_u 70, P_e 2.5
    assert source == "authors" and method.widths == (24, 24) and (method.lr, method.batch_size) == (0.1, 8)
    assert (method.epochs, method.retrain_epochs, method.p_unit, method.p_edge) == (40, 40, 70.0, 2.5)
    seed5, _ = method_of(SculptingModulesParams(width=36, depth=3, sculpt=SculptConfig(task="6-3-3-3", seed=5)))
    assert (seed5.lr, seed5.batch_size, seed5.epochs, seed5.p_unit, seed5.p_edge) == (0.05, 32, 15, 70.0, 2.0)
    fixed = SculptingModulesParams(width=24, depth=2, sculpt=SculptConfig(task="4-2-4", lr=0.3), protocol="fixed")
    assert method_of(fixed)[1] == "fixed" and method_of(fixed)[0].lr == 0.3
    assert method_of(SculptingModulesParams(width=24, depth=2, sculpt=SculptConfig(task="8-2-1-2-4")))[1] == "fixed"


def trial(task: str, success: bool) -> SculptTrial:
    """A trial record with only what the tally reads set meaningfully."""
    return SculptTrial(
        task, [4, 2, 4], [24], 0, True, 1.0, 0.03, [4, 2, 4], 65.0, 1.5, [2], [2], [], success, [], 1.0, 1, 2, Path()
    )


def test_success_rates_count_per_task() -> None:
    trials = [trial("reused", True), trial("reused", False), trial("single", True)]
    assert success_rates(trials) == {"reused": (1, 2), "single": (1, 1)}
    assert trials[1].row()["success"] == 0.0 and trials[0].row()["met"] == 1.0


def test_unknown_task_is_refused_before_any_cell_runs(tmp_path: Path) -> None:
    context = context_at(tmp_path)
    with pytest.raises(InvalidParams, match="Known tasks"):
        run_experiment(context, ExperimentParams(name="sculpting-modules", sets=("task=4-9-4", "seed=0")))
    with pytest.raises(GraphstoreError, match="width and depth must be at least 1"):
        run_experiment(context, ExperimentParams(name="sculpting-modules", sets=("task=4-1-4", "width=0")))
    with pytest.raises(GraphstoreError, match="protocol"):
        run_experiment(context, ExperimentParams(name="sculpting-modules", sets=("task=4-1-4", "protocol=slides")))
    with context.open_tracking() as tracking:
        assert tracking.list_runs() == []
