"""Running one cell, in whichever process an executor puts it: a child run, the pipeline, its rows, its outcome.

A cell's rows are stored in the same transaction that marks it completed, after its pipeline returns, so a cell
that fails or is killed leaves no rows behind; the child run records completed, failed (with the error) or
interrupted. A cell is ended only while it is still running and completed only while its driver still holds the
experiment run, so a cell another driver marked interrupted is never counted as completed as well.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from graphstore.config import Settings
from graphstore.experiments.base import CellContext, find_pipeline
from graphstore.experiments.plan import Cell
from graphstore.jobs.base import JobContext
from graphstore.params import to_dict
from graphstore.tracking.lifecycle import COMPLETED, FAILED, INTERRUPTED, outcome

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


def run_cell_task(context: JobContext, task: CellTask) -> CellOutcome:
    """Run one cell as a child run; a failure is recorded and returned, Ctrl-C is recorded and re-raised."""
    cell, started = task.cell, time.perf_counter()
    pipeline = find_pipeline(task.pipeline)
    with context.open_tracking() as tracking:
        run_id = tracking.start_run(
            CELL_KIND, f"{task.experiment} {cell.key}".strip(), _cell_params(task), parent_run_id=task.experiment_run_id
        )
    ctx = CellContext(_prefixed(context, cell.key), task.experiment_run_id, run_id, dict(cell.point), cell.key)
    try:
        with cell_threads(int(getattr(cell.params, "threads", 0) or 0)):
            pipeline.run_cell(ctx, cell.params)
    except BaseException as exc:
        status, error = outcome(exc)
        with context.open_tracking() as tracking:
            tracking.end_cell(run_id, status, error)
        if not isinstance(exc, Exception):
            raise
        return CellOutcome(cell.key, run_id, FAILED, time.perf_counter() - started, error)
    with context.open_tracking() as tracking:
        stored = tracking.complete_cell(task.experiment_run_id, run_id, ctx.rows, task.driver)
        if stored is None:
            error = f"another driver took over experiment run {task.experiment_run_id}; this cell's rows are dropped"
            tracking.end_cell(run_id, INTERRUPTED, error)
            return CellOutcome(cell.key, run_id, INTERRUPTED, time.perf_counter() - started, error)
    return CellOutcome(cell.key, run_id, COMPLETED, time.perf_counter() - started, rows=stored)
