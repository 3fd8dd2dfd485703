"""What every job shares: a context (settings, stores, tracking, progress) and a spec (name, parameters, run).

A job is a parameter dataclass plus `run(context, params) -> result` (OpenLTH's Runner habit): it returns data and
never prints; front ends (the CLI adapter, experiments, tests, library users) render the result and the progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from graphstore.config import Settings
from graphstore.progress import ProgressCallback, no_progress
from graphstore.registry import Registry
from graphstore.store import open_store
from graphstore.tracking import open_tracking

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore
    from graphstore.tracking.repo import Tracking

P = TypeVar("P")
R = TypeVar("R")


@dataclass
class JobContext:
    """Where a job runs: settings, callbacks (progress; status for short waits; note for lines worth keeping, such
    as one per pruning round), and the stores opened on demand."""

    settings: Settings
    progress: ProgressCallback = no_progress
    status: Callable[[str], None] = field(default=lambda text: None)
    note: Callable[[str], None] = field(default=lambda text: None)

    def open_store(self) -> GraphStore:
        """The configured graph store (a context manager)."""
        return open_store(self.settings)

    def open_tracking(self) -> Tracking:
        """The tracking DB (a context manager), migrated when it is SQLite."""
        return open_tracking(self.settings.tracking_url)


@dataclass(frozen=True)
class JobSpec(Generic[P, R]):
    """A named job: its parameter dataclass (the CLI's options and the tracked record) and its run function."""

    name: str
    summary: str
    params: type[P]
    run: Callable[[JobContext, P], R]
    example: str = ""

    def __call__(self, context: JobContext, params: P) -> R:
        return self.run(context, params)


JOBS: Registry[JobSpec[Any, Any]] = Registry(
    "job",
    "graphstore.jobs",
    skip=("base", "source"),
    hint="Analyses are jobs too: graphstore.jobs.analyze.analysis_job(name).",
)


def register(spec: JobSpec[P, R]) -> JobSpec[P, R]:
    """Add a job to JOBS under its name (each job module registers its own; experiments look them up by name)."""
    return JOBS.register(spec.name, spec)
