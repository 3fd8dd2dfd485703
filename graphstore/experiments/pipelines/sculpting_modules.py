"""`sculpting-modules` (002, docs/METHODS.md E): one neural-sculpting trial per cell of task x width x depth x seed.

A cell sculpts a dense MLP of `depth` hidden layers of `width` units on a Boolean task (unit pruning, then edge
pruning, under the accuracy threshold), detects the modules of the kept network and scores them against the
task's planted structure (graphstore.jobs.sculpt_trials). Its row (tables `success` and `sizes`) holds the
sculpted density and architecture, the detected modules per level and the verdict; table `success` averages it
per task into the slides' success rates (36/36, 35/36, 36/36, 36/36 for the four exemplar tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from graphstore.errors import InvalidParams
from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.pruning.params import SculptConfig
from graphstore.pruning.sculpt_protocol import authors_settings


@dataclass(frozen=True)
class SculptingModulesParams:
    """One sculpting trial (002): sculpt an MLP on a Boolean task, detect its modules, score the structure."""

    width: int = field(default=24, metadata={"help": "Units per hidden layer of the dense MLP."})
    depth: int = field(default=2, metadata={"help": "Hidden layers of the dense MLP."})
    sculpt: SculptConfig = field(
        default_factory=SculptConfig,
        metadata={
            "help": "The sculpting: task, training (epochs, lr, seed, ...), pruning steps P_u, P_e, accuracy "
            "threshold; width and depth set its hidden layers.",
            "exclude": ("widths",),
        },
    )
    clusterability: str = field(
        default="expected",
        metadata={"help": "Clusterability test of module detection.", "choices": ("expected", "pairwise")},
    )
    merge_in: float = field(default=0.9, metadata={"help": "Merge threshold Edges(i->j)/Edges(*->j)."})
    merge_out: float = field(default=0.9, metadata={"help": "Merge threshold Edges(i->j)/Edges(i->*)."})
    protocol: str = field(
        default="authors",
        metadata={
            "help": "authors: the authors' lr, batch size, epochs (dense and every retraining), P_u and P_e of "
            "this task, size and seed where their scripts ran the trial (graphstore.pruning.sculpt_protocol; "
            "with sweep, every P_u x P_e and the sparsest kept); fixed: the sculpting parameters as given.",
            "choices": ("authors", "fixed"),
        },
    )

    def __post_init__(self) -> None:
        if self.width < 1 or self.depth < 1:
            raise InvalidParams(
                f"width and depth must be at least 1, got width={self.width}, depth={self.depth}.",
                "Use e.g. --set width=24 --set depth=2 (the slides' grid: widths 24, 36, 48, depths 1-3).",
            )


def method_of(p: SculptingModulesParams) -> tuple[SculptConfig, str]:
    """The cell's sculpting settings and where they come from ("authors" or "fixed")."""
    from graphstore.nn.datasets.boolean_modular import boolean_task  # deferred: torch, only when a cell runs

    method = replace(p.sculpt, widths=(p.width,) * p.depth)
    task = "-".join(map(str, boolean_task(method.task, method.outputs).arch))
    found = authors_settings(task, p.width, p.depth, method.seed) if p.protocol == "authors" else None
    if found is None:
        return method, "fixed"
    method = replace(method, lr=found.lr, batch_size=found.batch_size, epochs=found.epochs)
    return replace(method, retrain_epochs=found.epochs, p_unit=found.p_unit, p_edge=found.p_edge), "authors"


def trial_params(p: SculptingModulesParams) -> Any:
    """The sculpting trial of a cell (sculpting and detection parameters)."""
    from graphstore.analysis.modules import ModuleParams  # deferred: numpy/scipy, only when a cell runs
    from graphstore.jobs.sculpt_trials import SculptTrialParams  # deferred: torch, only when a cell runs

    detection = ModuleParams(merge_in=p.merge_in, merge_out=p.merge_out, clusterability=p.clusterability)
    return SculptTrialParams(method=method_of(p)[0], detection=detection)


def run_cell(ctx: CellContext, p: SculptingModulesParams) -> None:
    """Sculpt, detect, score; link both tracked runs to the cell and record the trial's row."""
    trial = ctx.run_job("sculpt-trial", trial_params(p))
    ctx.link(trial.sculpt_run_id)
    if trial.modules_run_id is not None:
        ctx.link(trial.modules_run_id)
    row = {**trial.row(), "protocol": method_of(p)[1]}
    ctx.record("success", **row)
    ctx.record("sizes", **row)


PIPELINE = PIPELINES.register(
    Pipeline(
        name="sculpting-modules",
        params=SculptingModulesParams,
        run_cell=run_cell,
        datasets=lambda p: [("boolean-modular", {"task": p.sculpt.task, "outputs": p.sculpt.outputs})],
    )
)
