"""Running one cell, in whichever process an executor puts it: a child run, the pipeline, its rows, its outcome.

A cell's rows are stored in the same transaction that marks it completed, after its pipeline returns, so a cell
that fails or is killed leaves no rows behind; the child run goes through `run_lifecycle` (the policy every tracked
run shares) and records completed, failed (with the error) or interrupted (Ctrl-C). A cell is ended only while it
is still running and completed only while its driver still holds the experiment run, so a cell another driver
marked interrupted is never counted as completed as well.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphstore.config import Settings
from graphstore.experiments.base import CellContext, find_pipeline
from graphstore.experiments.plan import Cell
from graphstore.jobs.base import JobContext
from graphstore.params import to_dict
from graphstore.tracking.lifecycle import COMPLETED, INTERRUPTED, run_lifecycle

EXPERIMENT_KIND = "experiment"
CELL_KIND = "experiment-cell"


@dataclass(frozen=True)
class CellTask:
    """Everything a process needs to run one cell (picklable: settings, names, the parent run, the cell)."""

    settings: Settings
    pipeline: str
    experiment: str
    experiment_run_id: int
    cell: Cell
    cpus: float = 1.0
    gpus: float = 0.0
    driver: str = ""  # the driver holding the experiment run (graphstore.experiments.lease)


@dataclass(frozen=True)
class CellOutcome:
    """How one cell ended: its run, status, time, error text, and how many rows it stored."""

    key: str
    run_id: int | None
    status: str
    seconds: float
    error: str | None = None
    rows: int = 0

    def line(self) -> str:
        """One line for the log: 'completed  dataset=digits,seed=0  (run 12, 41.2 s, 8 rows)'."""
        where = f"run {self.run_id}, " if self.run_id is not None else ""
        text = f"{self.status:<10} {self.key or '(single cell)'}  ({where}{self.seconds:.1f} s, {self.rows} rows)"
        return f"{text}\n           {self.error}" if self.error else text


def _cell_params(task: CellTask) -> dict[str, Any]:
    """What the child run records: the grid point, its key, its full parameters and their fingerprint."""
    cell = task.cell
    return {"key": cell.key, "cell": cell.point, "params": to_dict(cell.params), "fingerprint": cell.fingerprint}


def _prefixed(context: JobContext, key: str) -> JobContext:
    """The context with notes prefixed by the cell's key (progress and status unchanged)."""
    return JobContext(
        context.settings, context.progress, context.status, lambda text: context.note(f"  [{key}] {text}")
    )


@contextmanager
def cell_threads(threads: int) -> Iterator[None]:
    """At most `threads` torch threads while a cell runs, for pipelines with a `threads` parameter (0: torch's own)."""
    if threads <= 0:
        yield
        return
    from graphstore.pruning.common import torch_threads  # deferred: torch, only for a cell that asks

    with torch_threads(threads):
        yield


@dataclass
class CellRun:
    """A cell's child run for `run_lifecycle`: started under the experiment run, finished once; a completed cell
    stores its rows in the same transaction, and only while its driver still holds the experiment run."""

    context: JobContext
    task: CellTask
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    run_id: int | None = None
    status: str = COMPLETED
    error: str | None = None
    stored: int = 0
    ended: bool = False

    def start(self) -> int:
        """The cell's child run, with its grid point, key, parameters and fingerprint."""
        task = self.task
        with self.context.open_tracking() as tracking:
            self.run_id = tracking.start_run(
                CELL_KIND,
                f"{task.experiment} {task.cell.key}".strip(),
                _cell_params(task),
                parent_run_id=task.experiment_run_id,
            )
        return self.run_id

    def finish(self, run_id: int, status: str, error: str | None) -> None:
        """End the child run; a completed one stores its rows, or is interrupted when another driver took over."""
        self.status, self.error = status, error
        with self.context.open_tracking() as tracking:
            if status == COMPLETED:
                stored = tracking.complete_cell(self.task.experiment_run_id, run_id, self.rows, self.task.driver)
                if stored is None:
                    self.status, self.error = INTERRUPTED, TAKEN_OVER.format(run=self.task.experiment_run_id)
                    tracking.end_cell(run_id, self.status, self.error)
                self.stored = stored or 0
            else:
                tracking.end_cell(run_id, status, error)
        self.ended = True


TAKEN_OVER = "another driver took over experiment run {run}; this cell's rows are dropped"


def run_cell_task(context: JobContext, task: CellTask) -> CellOutcome:
    """Run one cell as a child run through `run_lifecycle`: a failure of its pipeline is recorded and returned,
    Ctrl-C is recorded and re-raised; a failure to start or end the run itself is raised."""
    cell, started = task.cell, time.perf_counter()
    pipeline = find_pipeline(task.pipeline)
    run = CellRun(context, task)
    try:
        with run_lifecycle(run.start, run.finish) as handle:
            ctx = CellContext(
                _prefixed(context, cell.key), task.experiment_run_id, handle.run_id, dict(cell.point), cell.key
            )
            with cell_threads(int(getattr(cell.params, "threads", 0) or 0)):
                pipeline.run_cell(ctx, cell.params)
            run.rows = ctx.rows
    except Exception:
        if not run.ended or run.status == COMPLETED:
            raise
    seconds = time.perf_counter() - started
    return CellOutcome(cell.key, run.run_id, run.status, seconds, run.error, rows=run.stored)
