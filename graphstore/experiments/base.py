"""What an experiment pipeline is: a parameter dataclass and `run_cell(context, params)`, registered by name.

A cell is one point of the experiment's grid. Its pipeline calls the real jobs (train, prune, ingest, analyses)
through `CellContext.job`, links the runs they create to the cell's run, and records result rows in named tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from graphstore.errors import GraphstoreError
from graphstore.names import slug
from graphstore.registry import Registry

if TYPE_CHECKING:
    from graphstore.jobs.base import JobContext

P = TypeVar("P")

DatasetNeed = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Pipeline(Generic[P]):
    """A named cell pipeline: its parameters (the `--set` keys and grid axes) and the function running one cell.
    A `threads` parameter, where the dataclass has one, caps torch's threads while a cell runs (0: torch's own)."""

    name: str
    params: type[P]
    run_cell: Callable[[CellContext, P], None]
    datasets: Callable[[P], Sequence[DatasetNeed]] | None = None
    resources: Callable[[P], tuple[float, float]] | None = None

    def needs(self, params: P) -> tuple[float, float]:
        """(CPUs, GPUs) one cell needs, for executors that schedule by resources (Ray); default one CPU."""
        return self.resources(params) if self.resources else (1.0, 0.0)

    @property
    def summary(self) -> str:
        """The first line of the parameter dataclass's docstring."""
        return (self.params.__doc__ or "").strip().splitlines()[0] if self.params.__doc__ else ""


# Each module of graphstore/experiments/pipelines (or a plugin module in GRAPHSTORE_PLUGINS) registers its own:
# PIPELINE = PIPELINES.register(Pipeline("name", Params, run_cell)).
PIPELINES: Registry[Pipeline[Any]] = Registry(
    "experiment pipeline", "graphstore.experiments.pipelines", handle="PIPELINES", plural="experiment pipelines"
)


class PipelineUnavailable(GraphstoreError):
    """A definition's `pipeline = "package.module:name"` names a module that cannot be imported."""


def find_pipeline(name: str) -> Pipeline[Any]:
    """A registered pipeline by name, or `package.module:name` for one defined outside graphstore (imported first,
    in every process that runs its cells)."""
    module, sep, short = name.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except (ImportError, SyntaxError, ValueError) as exc:
            raise PipelineUnavailable(
                f"Cannot import module {module!r} of pipeline {name!r}: {type(exc).__name__}: {exc}.",
                "Check the definition's `pipeline` key: the module must be installed or on PYTHONPATH "
                "(a built-in pipeline is named without a module: graphstore experiment list).",
            ) from exc
    return PIPELINES.get(short if sep else name)


@dataclass
class CellContext:
    """One cell while it runs: the job context, its tracked run, its grid point, and where its rows go."""

    job: JobContext
    experiment_run_id: int
    run_id: int
    cell: dict[str, Any]
    key: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    linked: list[int] = field(default_factory=list)

    def record(self, table: str, /, **values: Any) -> None:
        """Add one row to result table `table`; the cell's grid point is added to it (stored when the cell ends)."""
        self.rows.setdefault(table, []).append({**self.cell, **values})

    def run_job(self, name: str, params: Any) -> Any:
        """Run the job registered as `name` (graphstore.jobs.base.JOBS: train, ingest, prune-imp, ...) in this cell's
        context; link its tracked run with `link`."""
        from graphstore.jobs.base import JOBS  # deferred: finding the jobs imports them (torch), only in a cell

        return JOBS.get(name)(self.job, params)

    def link(self, run_id: Any) -> None:
        """Make a tracked run this cell started (training, pruning, ...) a child of the cell's run."""
        rid = int(run_id)
        with self.job.open_tracking() as tracking:
            tracking.set_parent(rid, self.run_id)
        self.linked.append(rid)

    def graph_id(self, *parts: Any) -> str:
        """A graph id unique to this experiment run and cell: x<experiment run>-<cell>-<parts>."""
        tail = "-".join(slug(str(p)) for p in parts if str(p))
        point = ".".join(str(v) for v in self.cell.values())
        head = f"x{self.experiment_run_id}-{slug(point) if point else 'cell'}"
        return f"{head}-{tail}" if tail else head
