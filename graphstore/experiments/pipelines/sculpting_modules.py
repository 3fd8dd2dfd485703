"""`sculpting-modules` (002, docs/METHODS.md E): one neural-sculpting trial per cell of task x width x depth x seed.

A cell sculpts a dense MLP of `depth` hidden layers of `width` units on a Boolean task (unit pruning, then edge
pruning, under the accuracy threshold), detects the modules of the kept network and scores them against the
task's planted structure (graphstore.jobs.sculpt_trials). Its row (tables `success` and `sizes`) holds the
sculpted density and architecture, the detected modules per level and the verdict; table `success` averages it
per task into the slides' success rates (36/36, 35/36, 36/36, 36/36 for the four exemplar tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphstore.experiments.base import PIPELINES, CellContext, Pipeline


@dataclass(frozen=True)
class SculptingModulesParams:
    """One sculpting trial (002): sculpt an MLP on a Boolean task, detect its modules, score the structure."""

    task: str = field(
        default="input-separable",
        metadata={"help": "Boolean task: a catalogue name or its architecture, e.g. 4-1-2-16 (docs/METHODS.md E)."},
    )
    outputs: int = field(default=0, metadata={"help": "Output count k (0 = the task's default or its architecture)."})
    width: int = field(default=24, metadata={"help": "Units per hidden layer of the dense MLP."})
    depth: int = field(default=2, metadata={"help": "Hidden layers of the dense MLP."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation, shuffling and input noise."})
    epochs: int = field(default=200, metadata={"help": "Epochs of the dense training."})
    retrain_epochs: int = field(default=100, metadata={"help": "Epochs of retraining after each pruning step."})
    lr: float = field(default=0.05, metadata={"help": "Adam learning rate."})
    batch_size: int = field(default=16, metadata={"help": "Truth-table rows per step."})
    p_unit: float = field(default=65.0, metadata={"help": "Unit-pruning step P_u, percent of hidden units."})
    p_edge: float = field(default=1.5, metadata={"help": "Edge-pruning step P_e, percent of dense weights."})
    sweep: bool = field(default=False, metadata={"help": "Sweep P_u x P_e and keep the sparsest accepted network."})
    threshold: float = field(default=1.0, metadata={"help": "Accuracy a pruning step must keep (1.0 = whole table)."})
    clusterability: str = field(
        default="expected",
        metadata={"help": "Clusterability test of module detection.", "choices": ("expected", "pairwise")},
    )
    merge_in: float = field(default=0.9, metadata={"help": "Merge threshold Edges(i->j)/Edges(*->j)."})
    merge_out: float = field(default=0.9, metadata={"help": "Merge threshold Edges(i->j)/Edges(i->*)."})


def trial_params(p: SculptingModulesParams) -> Any:
    """The sculpting trial of a cell (sculpting and detection parameters)."""
    from graphstore.analysis.modules import ModuleParams  # deferred: numpy/scipy, only when a cell runs
    from graphstore.jobs.sculpt_trials import SculptTrialParams  # deferred: torch, only when a cell runs
    from graphstore.pruning.params import SculptConfig  # deferred: torch, only when a cell runs

    method = SculptConfig(
        task=p.task,
        outputs=p.outputs,
        widths=(p.width,) * p.depth,
        p_unit=p.p_unit,
        p_edge=p.p_edge,
        threshold=p.threshold,
        sweep=p.sweep,
        epochs=p.epochs,
        retrain_epochs=p.retrain_epochs,
        lr=p.lr,
        batch_size=p.batch_size,
        seed=p.seed,
    )
    detection = ModuleParams(merge_in=p.merge_in, merge_out=p.merge_out, clusterability=p.clusterability)
    return SculptTrialParams(method=method, detection=detection)


def run_cell(ctx: CellContext, p: SculptingModulesParams) -> None:
    """Sculpt, detect, score; link both tracked runs to the cell and record the trial's row."""
    from graphstore.jobs.sculpt_trials import SCULPT_TRIAL  # deferred: torch, only when a cell runs

    trial = SCULPT_TRIAL(ctx.job, trial_params(p))
    ctx.link(trial.sculpt_run_id)
    if trial.modules_run_id is not None:
        ctx.link(trial.modules_run_id)
    row = trial.row()
    ctx.record("success", **row)
    ctx.record("sizes", **row)


PIPELINE = PIPELINES.register(
    Pipeline(
        name="sculpting-modules",
        params=SculptingModulesParams,
        run_cell=run_cell,
        datasets=lambda p: [("boolean-modular", {"task": p.task, "outputs": p.outputs})],
    )
)
