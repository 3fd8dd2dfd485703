"""Where cells run: `local` (in order in this process, or a process pool of --workers) or `ray` (Ray tasks).

Every executor runs the same `run_cell_task` for a cell and yields its outcome as it completes; the driver records
nothing itself, so every executor leaves the same rows and runs behind. Ray is an optional extra (`pip install
graphstore[ray]`); `RAY_ADDRESS` (or `ray://host:port`) picks a cluster, otherwise Ray starts a local one.

Imports on workers come from the same places as on the driver, never from the working folder: Ray by default puts
the driver's working folder (and script folder) first on every worker's sys.path, so a module planted there (an
`igraph.py` in a shared folder) would run inside the worker. The job's runtime_env therefore names an empty private
folder as its working_dir, which keeps both off; workers then change into the driver's folder for relative paths,
which does not touch sys.path. Process-pool workers (spawn) get the driver's own sys.path.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from graphstore.errors import GraphstoreError
from graphstore.experiments.cells import CellOutcome, CellTask, run_cell_task
from graphstore.jobs.base import JobContext

NAMES = ("local", "ray")


class ExecutorUnavailable(GraphstoreError):
    """The chosen executor cannot start here (e.g. Ray is not installed or its cluster is unreachable)."""


class Executor(Protocol):
    """Runs cells and yields their outcomes as they complete."""

    def run(self, context: JobContext, tasks: list[CellTask]) -> Iterator[CellOutcome]:
        """Run every task; yield each outcome when its cell ends."""


def cores_per_worker(workers: int) -> int:
    """The torch threads each of `workers` pool processes gets: the usable cores shared out, at least one."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def share_cores(threads: int) -> None:
    """Pool initializer: cap torch's intra-op threads, so `workers` processes do not each run a thread per core
    (oversubscribed, torch's waiting threads spin and burn CPU without progress; docs/SCALING.md)."""
    import torch  # deferred: a worker imports torch for its cells anyway; the driver need not

    torch.set_num_threads(threads)


def cell_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn pool of `workers` processes sharing the cores (share_cores)."""
    spawn = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, spawn, initializer=share_cores, initargs=(cores_per_worker(workers),))


def run_in_worker(task: CellTask) -> CellOutcome:
    """Run one cell in a worker process (its own JobContext: no progress, no notes)."""
    return run_cell_task(JobContext(task.settings), task)


@dataclass
class LocalExecutor:
    """Cells in order in this process (workers = 1, with progress and notes), or in a pool of worker processes."""

    workers: int = 1

    def run(self, context: JobContext, tasks: list[CellTask]) -> Iterator[CellOutcome]:
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield run_cell_task(context, task)
            return
        with cell_pool(min(self.workers, len(tasks))) as pool:
            pending = {pool.submit(run_in_worker, t) for t in tasks}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in finished)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


def run_in_ray_worker(task: CellTask, cwd: str) -> CellOutcome:
    """Run one cell on a Ray worker, in the driver's working folder when it exists here (relative paths resolve as
    on the driver; the folder is not on sys.path)."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    return run_in_worker(task)


def ray_runtime_env(working_dir: str) -> dict[str, Any]:
    """The job's runtime_env: an empty working_dir (no driver folder on workers' sys.path) and, for a Ray started
    here, the driver's PYTHONPATH as the user set it (the working folder is not added)."""
    env: dict[str, Any] = {"working_dir": working_dir}
    if os.environ.get("PYTHONPATH"):
        env["env_vars"] = {"PYTHONPATH": os.environ["PYTHONPATH"]}
    return env


@dataclass
class RayExecutor:
    """Each cell a Ray task with the CPUs and GPUs its pipeline declares; outcomes come back to this driver.

    Without an address (argument or RAY_ADDRESS) Ray starts on this machine with `cpus` CPUs (None: all)."""

    address: str | None = None
    cpus: int | None = None

    def _ray(self) -> Any:
        try:
            import ray  # deferred: optional extra, heavy
        except ImportError as exc:
            raise ExecutorUnavailable(
                "--executor ray needs Ray, which is not installed.",
                "pip install 'graphstore[ray]' (or: pip install ray).",
            ) from exc
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            local: dict[str, Any] = {"num_cpus": self.cpus} if address is None and self.cpus else {}
            try:
                with tempfile.TemporaryDirectory(prefix="graphstore-ray-") as empty:  # private (0700), uploaded at init
                    ray.init(
                        address=address,
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                        runtime_env=ray_runtime_env(empty),
                        **local,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorUnavailable(
                    f"Cannot reach the Ray cluster at {address}: {exc}",
                    "Start it with `ray start --head`, or unset RAY_ADDRESS to run a local Ray.",
                ) from exc
        return ray

    def run(self, context: JobContext, tasks: list[CellTask]) -> Iterator[CellOutcome]:
        if not tasks:
            return
        ray = self._ray()
        remote = ray.remote(max_retries=0)(run_in_ray_worker)
        cwd = os.getcwd()
        pending = [remote.options(num_cpus=t.cpus, num_gpus=t.gpus).remote(t, cwd) for t in tasks]
        try:
            while pending:
                finished, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(finished)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def get(name: str, workers: int = 1) -> Executor:
    """The executor called `name` (local or ray)."""
    if name == "ray":
        return RayExecutor(cpus=workers if workers > 1 else None)
    if name == "local":
        return LocalExecutor(workers)
    raise ExecutorUnavailable(f"Unknown executor {name!r}.", f"Use one of: {', '.join(NAMES)}.")
