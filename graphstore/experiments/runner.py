"""The experiment job: plan the cells, check their data, run each cell as a child run, record rows, resume.

One parent run (kind "experiment") per experiment run; one child run (kind "experiment-cell") per cell attempt.
A failed cell is recorded with its error and the others go on; the parent ends "failed" naming the failed cells.
`--resume` continues the newest run of the same experiment and scale: cells whose completed child has the same
parameters (fingerprint) are skipped, the rest run again under the same parent run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments import executor as executors
from graphstore.experiments.base import find_pipeline
from graphstore.experiments.cells import CELL_KIND, EXPERIMENT_KIND, CellOutcome, CellTask
from graphstore.experiments.definition import SCALES, find_definition
from graphstore.experiments.plan import Plan, make_plan
from graphstore.experiments.show import ExperimentReport, experiment_report
from graphstore.jobs.base import JobContext, JobSpec
from graphstore.nn.errors import DatasetMissing
from graphstore.tracking.lifecycle import COMPLETED, FAILED, INTERRUPTED


class ExperimentDataMissing(GraphstoreError):
    """Datasets an experiment's cells need are not on disk; the message lists each with its files and folder."""


@dataclass(frozen=True)
class ExperimentParams:
    """Run an experiment: every cell of its grid at a scale, recorded as one run with a child run per cell."""

    name: str = field(
        metadata={
            "help": "Experiment name (graphstore experiment list) or a path to a definition .toml.",
            "argument": True,
        }
    )
    scale: str = field(
        default="smoke",
        metadata={
            "help": "smoke: minutes on a laptop CPU; paper: the paper's models, data, schedules.",
            "choices": SCALES,
        },
    )
    sets: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Override a parameter, KEY=VALUE (repeatable); a comma list makes a grid axis, e.g. seed=0,1,2.",
            "flags": ("--set",),
            "repeat": True,
        },
    )
    resume: bool = field(
        default=False,
        metadata={"help": "Continue the newest run of this experiment at this scale, skipping completed cells."},
    )
    workers: int = field(
        default=1, metadata={"help": "Cells run at once (local executor: a process pool of this size; 1 = in order)."}
    )
    executor: str = field(
        default="local",
        metadata={
            "help": "Where cells run: local (this machine) or ray (a Ray cluster; RAY_ADDRESS or local).",
            "choices": executors.NAMES,
        },
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


@dataclass
class ExperimentResult:
    """What an experiment run did: its run id, every cell's outcome, and the cells skipped as already done."""

    run_id: int
    name: str
    scale: str
    document: str
    total: int
    outcomes: list[CellOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    resumed: bool = False
    seconds: float = 0.0
    report: ExperimentReport | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        """Cells that did not complete."""
        return [o for o in self.outcomes if o.status != COMPLETED]


def check_data(context: JobContext, plan: Plan) -> None:
    """Load every dataset the cells declare once; all missing ones are reported together, with files and folders."""
    if plan.pipeline.datasets is None:
        return
    from graphstore.nn.datasets import dataset_spec, load_dataset  # deferred: torch, only when a run starts

    needed: dict[str, tuple[str, dict[str, Any]]] = {}
    for cell in plan.cells:
        for name, params in plan.pipeline.datasets(cell.params):
            needed[f"{name}{sorted(dict(params).items())}"] = (name, dict(params))
    problems = []
    for name, params in needed.values():
        context.status(f"checking dataset {name}")
        try:
            load_dataset(dataset_spec(name, params), context.settings.data_dir)
        except DatasetMissing as exc:
            problems.append(f"- {name}: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
    if problems:
        raise ExperimentDataMissing(
            f"{plan.definition.name} at {plan.scale} scale needs data that is not here:\n" + "\n".join(problems),
            "Put the files where each line says, or run `--scale smoke` (data this machine has).",
        )


def _parent_params(plan: Plan, params: ExperimentParams) -> dict[str, Any]:
    """What the parent run records: the definition, scale, overrides, resolved base parameters and grid."""
    d = plan.definition
    return {
        "experiment": d.name,
        "definition": str(d.path),
        "pipeline": d.pipeline,
        "document": d.document,
        "scale": plan.scale,
        "sets": list(params.sets),
        "params": plan.base,
        "grid": plan.axes,
        "cells": len(plan.cells),
        "executor": params.executor,
        "workers": params.workers,
    }


def _resume_target(context: JobContext, plan: Plan) -> tuple[int, set[str]] | None:
    """The newest run of this experiment and scale, and the fingerprints of its completed cells (None: none)."""
    with context.open_tracking() as tracking:
        runs = [
            r
            for r in tracking.list_runs(kind=EXPERIMENT_KIND, limit=None)
            if r.name == plan.definition.name and r.params.get("scale") == plan.scale
        ]
        if not runs:
            return None
        parent = runs[0]
        done: set[str] = set()
        for child in tracking.list_child_runs(parent.id):
            if child.kind != CELL_KIND:
                continue
            if child.status == COMPLETED:
                done.add(str(child.params.get("fingerprint")))
                continue
            tracking.delete_cell_rows(child.id)
            if child.status == "running":
                tracking.finish_run(child.id, INTERRUPTED, "the experiment driver stopped; cell resumed later")
        tracking.reopen_run(parent.id)
        return parent.id, done


def _start(context: JobContext, plan: Plan, params: ExperimentParams) -> tuple[int, set[str], bool]:
    """The parent run (new, or the resumed one) and the fingerprints of cells already done."""
    if params.resume:
        target = _resume_target(context, plan)
        if target is not None:
            context.note(f"resuming experiment run {target[0]}: {len(target[1])} cell(s) already done")
            return target[0], target[1], True
        context.note(f"no earlier run of {plan.definition.name} at {plan.scale} scale: starting a new one")
    with context.open_tracking() as tracking:
        run_id = tracking.start_run(EXPERIMENT_KIND, plan.definition.name, _parent_params(plan, params))
    return run_id, set(), False


def run_experiment(context: JobContext, params: ExperimentParams) -> ExperimentResult:
    """Run (or resume) every cell of the experiment; failed cells are recorded and the others go on."""
    definition = find_definition(params.name)
    plan = make_plan(definition, find_pipeline(definition.pipeline), params.scale, params.sets)
    check_data(context, plan)
    started = time.perf_counter()
    run_id, done, resumed = _start(context, plan, params)
    result = ExperimentResult(
        run_id, definition.name, plan.scale, definition.document, len(plan.cells), resumed=resumed
    )
    tasks = []
    for cell in plan.cells:
        if cell.fingerprint in done:
            result.skipped.append(cell.key)
        else:
            cpus, gpus = plan.pipeline.needs(cell.params)
            tasks.append(CellTask(context.settings, definition.pipeline, definition.name, run_id, cell, cpus, gpus))
    context.note(
        f"experiment run {run_id}: {definition.name} ({plan.scale}), {len(plan.cells)} cell(s)"
        + (f", {len(result.skipped)} already done" if result.skipped else "")
    )
    if (params.workers > 1 or params.executor == "ray") and not context.settings.is_neo4j:
        context.note(
            "note: the embedded graph store is written by one process at a time; cells that ingest graphs in "
            "parallel may fail on its lock (use Neo4j: graphstore services start, or --workers 1)"
        )
    status: str = INTERRUPTED
    error: str | None = "interrupted"
    try:
        for outcome in executors.get(params.executor, params.workers).run(context, tasks):
            result.outcomes.append(outcome)
            context.progress(f"{definition.name}: cells", len(result.outcomes), len(tasks))
            context.note(outcome.line())
        failed = result.failed
        status = FAILED if failed else COMPLETED
        error = (
            f"{len(failed)} of {len(plan.cells)} cells failed: {', '.join(o.key for o in failed)}" if failed else None
        )
    finally:
        result.seconds = time.perf_counter() - started
        with context.open_tracking() as tracking:
            tracking.finish_run(run_id, status, error)
    result.report = experiment_report(context, run_id)
    return result


EXPERIMENT = JobSpec(
    "experiment",
    "Run an experiment: every cell of its grid, recorded as one run with a child run per cell.",
    ExperimentParams,
    run_experiment,
    "graphstore experiment run coactivation-hierarchy --scale smoke --set seed=0,1",
)
