"""What every job shares: a context (settings, stores, tracking, progress) and a spec (name, parameters, run).

A job is a parameter dataclass plus `run(context, params) -> result` (OpenLTH's Runner habit): it returns data and
never prints; front ends (the CLI adapter, experiments, tests, library users) render the result and the progress.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from graphstore.config import Settings
from graphstore.connections import Connections, borrowed_store, borrowed_tracking
from graphstore.progress import ProgressCallback, no_progress
from graphstore.registry import Registry

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore
    from graphstore.tracking.repo import Tracking

P = TypeVar("P")
R = TypeVar("R")


@dataclass
class JobContext:
    """Where a job runs: settings, callbacks (progress; status for short waits; note for lines worth keeping, such
    as one per pruning round), and its connections: one graph store and one tracking DB, opened on first use and
    closed when the job ends (graphstore.connections)."""

    settings: Settings
    progress: ProgressCallback = no_progress
    status: Callable[[str], None] = field(default=lambda text: None)
    note: Callable[[str], None] = field(default=lambda text: None)
    connections: Connections = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.connections = Connections(self.settings)

    def open_store(self) -> AbstractContextManager[GraphStore]:
        """The job's graph store for a `with` block (shared by the whole job; its end closes it)."""
        return borrowed_store(self.connections)

    def open_tracking(self) -> AbstractContextManager[Tracking]:
        """The job's tracking DB for a `with` block (migrated when it is SQLite; shared by the whole job)."""
        return borrowed_tracking(self.connections)


@dataclass(frozen=True)
class JobSpec(Generic[P, R]):
    """A named job: its parameter dataclass (the CLI's options and the tracked record) and its run function."""

    name: str
    summary: str
    params: type[P]
    run: Callable[[JobContext, P], R]
    example: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", holding_connections(self.run))

    def __call__(self, context: JobContext, params: P) -> R:
        return self.run(context, params)


def holding_connections(run: Callable[[JobContext, P], R]) -> Callable[[JobContext, P], R]:
    """run, holding the context's connections open for its whole length (a nested job shares them)."""
    if getattr(run, "holds_connections", False):
        return run

    @functools.wraps(run)
    def held(context: JobContext, params: P) -> R:
        with context.connections.hold():
            return run(context, params)

    held.holds_connections = True  # type: ignore[attr-defined]
    return held


# Each job module registers its own: JOBS.register(JobSpec("train", ...)); experiments and tests look them up here.
JOBS: Registry[JobSpec[Any, Any]] = Registry(
    "job",
    "graphstore.jobs",
    handle="JOBS",
    hint="Analyses are jobs too: graphstore.jobs.analyze.analysis_job(name).",
)
