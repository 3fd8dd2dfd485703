"""`--nproc N` for the jobs that train (train, prune imp/topology/structured): one launcher under torchrun.

A job whose parameters carry `nproc` and a TrainConfig `train` is made distributable by decorating its run
function with `@distributable`. With nproc > 1 outside torchrun, the decorated job pickles (settings, the job
function, params, device) and re-launches itself under `python -m torch.distributed.run` with nproc local
processes on loopback (MASTER_ADDR 127.0.0.1, a free port); each runs graphstore.jobs.train_worker, which joins
the process group and calls the same job function, and rank 0 hands its result back through a file. Started by
torchrun already (WORLD_SIZE set), the job joins the process group first, so ranks are known before it loads
anything, and runs in place as its rank. With nproc 1 it just runs.
"""

from __future__ import annotations

import functools
import pickle
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from graphstore.errors import InvalidParams
from graphstore.jobs.base import JobContext
from graphstore.nn import distributed
from graphstore.nn.config import TrainConfig

WORKER = "graphstore.jobs.train_worker"


class Distributable(Protocol):
    """Job parameters that can run in several processes: how many, and the training they do."""

    @property
    def nproc(self) -> int: ...

    @property
    def train(self) -> TrainConfig: ...


P = TypeVar("P", bound=Distributable)
R = TypeVar("R")


def nproc_field() -> Any:
    """The `--nproc` option of a distributable job (default 1: one process, no torchrun)."""
    return field(
        default=1,
        metadata={
            "help": "Local processes to train with (DistributedDataParallel under torchrun: gloo on CPU, nccl on "
            "GPU); --batch-size stays the global batch."
        },
    )


def distributable(run: Callable[[JobContext, P], R]) -> Callable[[JobContext, P], R]:
    """Make a job function honour `params.nproc`: launch it in that many processes, or join torchrun's group."""

    @functools.wraps(run)
    def job(context: JobContext, params: P) -> R:
        if params.nproc > 1 and not distributed.launched():
            return launch(context, job, params)
        distributed.setup(params.train.device)
        return run(context, params)

    return job


def launch(context: JobContext, job: Callable[[JobContext, P], R], params: P) -> R:
    """Run `job` (a module-level, picklable function) in `params.nproc` local torchrun processes; return rank 0's
    result. The global batch must split evenly over the processes (checked before any process starts)."""
    nproc, config = params.nproc, params.train
    if config.batch_size % nproc:
        raise InvalidParams(
            f"--batch-size {config.batch_size} does not split over --nproc {nproc} processes.",
            f"--batch-size is the global batch: use a multiple of {nproc}.",
        )
    context.note(f"training in {nproc} processes (torchrun, DistributedDataParallel)")
    with tempfile.TemporaryDirectory(prefix="graphstore-nproc-") as tmp:
        order, result = Path(tmp) / "job.pkl", Path(tmp) / "outcome.pkl"
        order.write_bytes(pickle.dumps((context.settings, job, params, config.device)))
        command = distributed.torchrun_command(nproc, WORKER, [str(order), str(result)])
        context.status(f"waiting for {nproc} training processes")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not result.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise distributed.DistributedTrainingFailed(
                f"Distributed training in {nproc} processes failed (exit {done.returncode}):\n{tail}",
                "Run it once with --nproc 1 to see the error directly.",
            )
        outcome: R = pickle.loads(result.read_bytes())
    return outcome
