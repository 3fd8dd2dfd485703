"""A test pipeline for the experiment framework: arithmetic instead of training, so grids run in milliseconds.

Importable by worker processes (`pipeline = "tests.experiment_support:toy-sum"` in a definition).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from graphstore.config import Settings
from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.jobs.base import JobContext
from graphstore.tracking.db import upgrade


def context_at(tmp_path: Path) -> JobContext:
    """A job context on a fresh SQLite tracking DB and embedded store under tmp_path (the experiments' tests)."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    upgrade(url)
    return JobContext(Settings(data_dir=tmp_path / "data", database_url=url))


@dataclass(frozen=True)
class ToyParams:
    """Add a and seed (a test pipeline: no training); optionally fail, link a run, or need a dataset."""

    a: int = field(default=1, metadata={"help": "First addend."})
    seed: int = field(default=0, metadata={"help": "Second addend (a grid axis in the tests)."})
    factor: float = field(default=1.0, metadata={"help": "Multiplies the sum."})
    weights: tuple[float, ...] = field(default=(1.0, 2.0), metadata={"help": "A tuple parameter."})
    fail_if: str = field(default="", metadata={"help": "Fail when this file exists."})
    link: bool = field(default=False, metadata={"help": "Start a tracked run and link it to the cell."})
    dataset: str = field(default="", metadata={"help": "A dataset the cell declares (checked before the run)."})
    data_root: str = field(default="", metadata={"help": "Its root folder."})
    sleep: float = field(default=0.0, metadata={"help": "Seconds the cell takes (a driver to kill mid-run)."})
    imports: str = field(default="", metadata={"help": "A module the cell imports (where workers import from)."})
    hold: str = field(default="", metadata={"help": "Wait while this file exists (then write <hold>.<seed>.after)."})


def run_cell(ctx: CellContext, p: ToyParams) -> None:
    """Record one row of table 'sums' (and one of 'labels'); fail, wait or import a module on request."""
    if p.imports:
        importlib.import_module(p.imports)
    time.sleep(p.sleep)
    _hold(p)
    if p.fail_if and Path(p.fail_if).exists():
        raise RuntimeError(f"planted failure ({p.fail_if} exists)")
    if p.link:
        with ctx.job.open_tracking() as tracking:
            child = tracking.start_run("toy", "linked", {"a": p.a})
            tracking.finish_run(child)
        ctx.link(child)
    ctx.record("sums", total=p.a + p.seed, scaled=(p.a + p.seed) * p.factor, weight_sum=sum(p.weights))
    ctx.record("labels", label="odd" if (p.a + p.seed) % 2 else "even")


def _hold(p: ToyParams) -> None:
    """Wait (at most 5 minutes) while the file `p.hold` exists; note that this cell waited and went on."""
    if not p.hold or not Path(p.hold).exists():
        return
    deadline = time.monotonic() + 300
    while Path(p.hold).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    Path(f"{p.hold}.{p.seed}.after").touch()


PIPELINE = PIPELINES.register(
    Pipeline(
        "toy-sum",
        ToyParams,
        run_cell,
        datasets=lambda p: [(p.dataset, {"root": p.data_root})] if p.dataset else [],
    )
)
