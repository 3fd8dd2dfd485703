"""Experiment executors: 8 independent cells on the local process pool vs Ray, with the same CPUs, in one run.

    python -m bench.executor [--cells 8] [--work 2.0] [--cpus 2]

Each cell does a fixed amount of single-threaded CPU work (about --work seconds on an idle core: a seeded
numpy computation, the same for every executor) and records one row. Measured on the same input:
1. in order, in this process: the sum of the cell times (the work);
2. the local executor, a spawn process pool of --cpus workers;
3. Ray started on this machine with --cpus CPUs, each cell a task of one CPU (start-up timed apart).
The limit is work / cpus (perfect packing, no overhead). Ray's overhead per cell is (Ray wall - local wall) * cpus /
cells; the issue's targets: <= 1 s per cell and Ray's wall within 1.2x of the local pool's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import machine
from bench.executor_cells import busy
from graphstore.config import Settings
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.jobs.base import JobContext

DEFINITION = """
name = "bench-executor"
pipeline = "bench.executor_cells:bench-busy"
[smoke]
params = {{ work = {work} }}
grid = {{ seed = {seeds} }}
"""


def calibrate(target: float) -> int:
    """Work units that take about `target` seconds here."""
    start = time.perf_counter()
    busy(20, 0)
    per_unit = (time.perf_counter() - start) / 20
    return max(1, int(target / per_unit))


def timed_run(folder: Path, name: str, executor: str, workers: int, sets: tuple[str, ...]) -> tuple[float, list]:
    """Wall seconds of one experiment run and its rows' checksums (by seed)."""
    context = JobContext(Settings(data_dir=folder / name))
    start = time.perf_counter()
    out = run_experiment(
        context, ExperimentParams(name=str(folder / "bench.toml"), sets=sets, executor=executor, workers=workers)
    )
    wall = time.perf_counter() - start
    assert not out.failed, [o.error for o in out.failed]
    rows = out.report.tables["cells"] if out.report else []
    return wall, sorted((r["seed"], round(r["checksum"], 9)) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--work", type=float, default=2.0)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    rounds = calibrate(args.work)
    seeds = list(range(args.cells))
    sets = (f"rounds={rounds}",)
    with tempfile.TemporaryDirectory(prefix="bench-executor-") as tmp:
        folder = Path(tmp)
        (folder / "bench.toml").write_text(DEFINITION.format(work=args.work, seeds=seeds))
        serial, ref = timed_run(folder, "serial", "local", 1, sets)
        local, local_rows = timed_run(folder, "local", "local", args.cpus, sets)
        import ray  # deferred: optional extra

        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray_start = time.perf_counter() - start
        on_ray, ray_rows = timed_run(folder, "ray", "ray", args.cpus, sets)
        ray.shutdown()
    assert ref == local_rows == ray_rows, "executors disagree on the cells' results"
    limit = serial / args.cpus
    overhead = (on_ray - local) * args.cpus / args.cells
    print(f"{args.cells} cells of ~{args.work:.1f} s work ({rounds} units), {args.cpus} CPUs; identical rows: yes")
    print(f"in order, in process (the work)  {serial:8.2f} s")
    print(f"limit: work / cpus                {limit:8.2f} s")
    print(f"local process pool (spawned)     {local:8.2f} s   {local / limit:5.2f}x limit")
    print(f"ray, cluster up (start-up apart) {on_ray:8.2f} s   {on_ray / limit:5.2f}x limit")
    print(f"ray start-up (once per cluster)  {ray_start:8.2f} s")
    print(f"ray / local, cluster up          {on_ray / local:8.2f}x   (target <= 1.2x)")
    print(f"ray / local, with start-up       {(on_ray + ray_start) / local:8.2f}x")
    print(f"ray overhead per cell            {overhead:8.2f} s   (target <= 1 s; negative: faster than the pool)")


if __name__ == "__main__":
    main()
