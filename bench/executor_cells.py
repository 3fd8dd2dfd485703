"""The benchmark cell of bench/executor.py: fixed single-threaded CPU work (importable by worker processes)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from graphstore.experiments.base import PIPELINES, CellContext, Pipeline


@dataclass(frozen=True)
class BusyParams:
    """A fixed amount of single-threaded CPU work (a benchmark cell)."""

    seed: int = field(default=0, metadata={"help": "Seed of the work's input."})
    work: float = field(default=2.0, metadata={"help": "Target seconds of work on an idle core."})
    rounds: int = field(default=0, metadata={"help": "Work units (0: calibrated from --work by the driver)."})


def busy(rounds: int, seed: int) -> float:
    """`rounds` units of seeded numpy work on one thread; returns a checksum so nothing is optimised away."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((200, 200))
    total = 0.0
    with threadpool_limits(1):
        for _ in range(rounds):
            x = np.tanh(x @ x.T / 200.0)
            total += float(x[0, 0])
    return total


def run_cell(ctx: CellContext, p: BusyParams) -> None:
    start = time.perf_counter()
    checksum = busy(p.rounds, p.seed)
    ctx.record("cells", seconds=time.perf_counter() - start, checksum=checksum, pid=os.getpid())


PIPELINE = PIPELINES.register(Pipeline("bench-busy", BusyParams, run_cell))
