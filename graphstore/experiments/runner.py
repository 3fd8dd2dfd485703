"""The experiment job: plan the cells, check their data, run each cell as a child run, record rows, resume.

One parent run (kind "experiment") per experiment run; one child run (kind "experiment-cell") per cell attempt.
A failed cell is recorded with its error and the others go on; the parent ends "failed" naming the failed cells.
Both go through `run_lifecycle` (graphstore.tracking.lifecycle), the policy every tracked run shares: an error of the
run itself (e.g. --executor ray without Ray) ends it "failed" with the message, Ctrl-C ends it "interrupted".
`--resume` continues the newest run of the same experiment and scale: cells whose completed child has the same
parameters (fingerprint) are skipped, the rest run again under the same parent run. A resume is refused when the grid
or parameters differ from the recorded ones, or while the run's driver still holds its lease
(graphstore.experiments.resume, graphstore.experiments.lease).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments import executor as executors
from graphstore.experiments.base import find_pipeline
from graphstore.experiments.cells import EXPERIMENT_KIND, CellOutcome, CellTask
from graphstore.experiments.definition import SCALES, find_definition, replaced_shipped
from graphstore.experiments.lease import DEFAULT_HEARTBEAT_S, DriverLease, lease_end, new_driver
from graphstore.experiments.plan import MAX_CELLS, Plan, make_plan
from graphstore.experiments.resume import take_over
from graphstore.experiments.show import ExperimentReport, experiment_report
from graphstore.jobs.base import JobContext, JobSpec
from graphstore.nn.errors import DatasetMissing
from graphstore.tracking.lifecycle import COMPLETED, FAILED, run_lifecycle

PARALLEL_EMBEDDED_NOTE = (
    "note: the embedded graph store is opened by one process at a time; with cells in parallel, every cell that "
    "opens it (to ingest, or only to read: analyses, queries) may fail on its lock (use Neo4j: graphstore services "
    "start, or --workers 1)"
)


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
    max_cells: int = field(
        default=MAX_CELLS, metadata={"help": "Refuse a grid of more cells than this (guards against a typo)."}
    )
    heartbeat: float = field(
        default=DEFAULT_HEARTBEAT_S,
        metadata={"help": "Seconds between this driver's heartbeats; a --resume is refused until 3 have been missed."},
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.max_cells < 1:
            raise ValueError("max_cells must be >= 1")
        if not self.heartbeat > 0:
            raise ValueError("heartbeat must be > 0 seconds")


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
    given: str = ""  # the experiment as the user named it (a name or a path) and its --set values, for the resume hint
    sets: tuple[str, ...] = ()

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


@dataclass
class ParentRun:
    """The experiment's parent run for `run_lifecycle`: a new run or the resumed one, held by this driver, finished
    only while this driver still holds it."""

    context: JobContext
    plan: Plan
    params: ExperimentParams
    driver: str
    done: set[str] = field(default_factory=set)
    resumed: bool = False

    def start(self) -> int:
        """The parent run (new, or the resumed one) held by this driver; `done` the fingerprints of finished cells."""
        plan, params = self.plan, self.params
        with self.context.open_tracking() as tracking:
            if params.resume:
                target = take_over(tracking, plan, self.driver, params.heartbeat)
                if target is not None:
                    self.context.note(
                        f"resuming experiment run {target.run_id}: {len(target.done)} cell(s) already done"
                    )
                    self.done, self.resumed = target.done, True
                    return target.run_id
                self.context.note(f"no earlier run of {plan.definition.name} at {plan.scale} scale: starting a new one")
            run_id = tracking.start_run(EXPERIMENT_KIND, plan.definition.name, _parent_params(plan, params))
            tracking.renew_lease(run_id, self.driver, lease_end(params.heartbeat))
        return run_id

    def finish(self, run_id: int, status: str, error: str | None) -> None:
        """End the run, unless another driver took it over."""
        with self.context.open_tracking() as tracking:
            tracking.finish_held_run(run_id, self.driver, status, error)


def _notes(context: JobContext, plan: Plan, params: ExperimentParams) -> None:
    """Say which file replaced a shipped definition, and what parallel cells do to the embedded store."""
    shipped = replaced_shipped(plan.definition)
    if shipped is not None:
        context.note(
            f"note: using {plan.definition.path}, which replaces the shipped definition {plan.definition.name!r} "
            f"({shipped}); move it out of ./experiments to run the shipped one"
        )
    if (params.workers > 1 or params.executor == "ray") and not context.settings.is_neo4j:
        context.note(PARALLEL_EMBEDDED_NOTE)


def run_experiment(context: JobContext, params: ExperimentParams) -> ExperimentResult:
    """Run (or resume) every cell of the experiment; failed cells are recorded and the others go on."""
    definition = find_definition(params.name)
    plan = make_plan(definition, find_pipeline(definition.pipeline), params.scale, params.sets, params.max_cells)
    check_data(context, plan)
    _notes(context, plan, params)
    started, parent = time.perf_counter(), ParentRun(context, plan, params, new_driver())
    with run_lifecycle(parent.start, parent.finish) as handle:
        result = ExperimentResult(
            handle.run_id,
            definition.name,
            plan.scale,
            definition.document,
            len(plan.cells),
            resumed=parent.resumed,
            given=params.name,
            sets=params.sets,
        )
        tasks = _tasks(context, plan, parent, result)
        context.note(
            f"experiment run {result.run_id}: {definition.name} ({plan.scale}), {len(plan.cells)} cell(s)"
            + (f", {len(result.skipped)} already done" if result.skipped else "")
        )
        with DriverLease(context.settings.tracking_url, result.run_id, parent.driver, params.heartbeat) as lease:
            _run_cells(context, plan, params, tasks, result, lease)
        handle.ending = _ending(plan, result)
    result.seconds = time.perf_counter() - started
    result.report = experiment_report(context, result.run_id)
    return result


def _tasks(context: JobContext, plan: Plan, parent: ParentRun, result: ExperimentResult) -> list[CellTask]:
    """The cells still to run (a resumed run's completed cells are listed as skipped)."""
    tasks = []
    for cell in plan.cells:
        if cell.fingerprint in parent.done:
            result.skipped.append(cell.key)
            continue
        cpus, gpus = plan.pipeline.needs(cell.params)
        definition = plan.definition
        tasks.append(
            CellTask(
                context.settings, definition.pipeline, definition.name, result.run_id, cell, cpus, gpus, parent.driver
            )
        )
    return tasks


def _ending(plan: Plan, result: ExperimentResult) -> tuple[str, str | None]:
    """How the parent run ends when every cell ran: completed, or failed naming the cells that did not complete."""
    failed = result.failed
    if not failed:
        return COMPLETED, None
    return FAILED, f"{len(failed)} of {len(plan.cells)} cells failed: {', '.join(o.key for o in failed)}"


def _run_cells(
    context: JobContext,
    plan: Plan,
    params: ExperimentParams,
    tasks: list[CellTask],
    result: ExperimentResult,
    lease: DriverLease,
) -> None:
    """Run the tasks on the chosen executor while this driver holds the run (its lease checked after each cell)."""
    for outcome in executors.get(params.executor, params.workers).run(context, tasks):
        result.outcomes.append(outcome)
        context.progress(f"{plan.definition.name}: cells", len(result.outcomes), len(tasks))
        context.note(outcome.line())
        lease.check()
    lease.check()


EXPERIMENT = JobSpec(
    "experiment",
    "Run an experiment: every cell of its grid, recorded as one run with a child run per cell.",
    ExperimentParams,
    run_experiment,
    "graphstore experiment run coactivation-hierarchy --scale smoke --set seed=0,1",
)
