"""Experiment cells on Ray: a local Ray with 2 worker CPUs runs a 4-cell grid and records exactly what the local
executor records (issue 12). Ray is a dev dependency, so this runs in `make test`; it is never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphstore.config import Settings
from graphstore.experiments.results import load_tables
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.extract.files import write_parquet
from graphstore.jobs.base import JobContext
from tests.test_experiments import write_toy
from tests.test_hierarchy import planted

pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_local():
    """Ray on this machine with 2 CPUs, shut down after the module. Workers import the test pipeline through
    PYTHONPATH (as a user's own pipeline module would), never from the working folder (issue 19, M1)."""
    import ray

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(ROOT))
        yield ray
    if ray.is_initialized():
        ray.shutdown()


def _rows(context: JobContext, run_id: int) -> list[tuple]:
    with context.open_tracking() as tracking:
        cells = tracking.list_child_runs(run_id)
        rows = load_tables(tracking, run_id)
    assert all(c.status == "completed" for c in cells)
    return sorted((r["seed"], r["total"], r["scaled"], r["weight_sum"]) for r in rows["sums"])


def test_ray_records_what_the_local_executor_records(ray_local, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = write_toy(tmp_path, extra=", link = true")
    results = {}
    for executor in ("local", "ray"):
        context = JobContext(Settings(data_dir=tmp_path / executor))
        params = ExperimentParams(name=str(path), sets=("seed=0,1,2,3",), executor=executor, workers=2)
        out = run_experiment(context, params)
        assert not out.failed, [o.error for o in out.failed]
        assert len(out.outcomes) == 4
        results[executor] = _rows(context, out.run_id)
        with context.open_tracking() as tracking:
            linked = [r for c in tracking.list_child_runs(out.run_id) for r in tracking.list_child_runs(c.id)]
        assert len(linked) == 4  # the runs each cell started are linked under it, on Ray too
    assert results["ray"] == results["local"]
    assert ray_local.is_initialized()


def test_four_hierarchy_runs_on_ray_match_the_local_executor(ray_local, tmp_path: Path, monkeypatch) -> None:
    """issue 12: repeated class-hierarchy fits as cells (one seed each) record the same trees and RF on Ray."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    graph_file = write_parquet(planted(), tmp_path / "planted.parquet")
    sets = (f"graph_file={graph_file}", "graph=", "reference=fashion-mnist", "seed=0,1,2,3")
    recorded = {}
    for executor in ("local", "ray"):
        context = JobContext(Settings(data_dir=tmp_path / f"h-{executor}"))
        out = run_experiment(context, ExperimentParams(name="hierarchy-runs", sets=sets, executor=executor, workers=2))
        assert not out.failed, [o.error for o in out.failed]
        rows = out.report.tables["runs"] if out.report else []
        recorded[executor] = sorted((r["seed"], r["tree"], r["rf"], r["method"]) for r in rows)
    assert len(recorded["local"]) == 4 and recorded["ray"] == recorded["local"]
    assert all(rf <= 8 for _, _, rf, _ in recorded["ray"])  # the planted tree is mostly recovered (random: ~12)


def test_ray_failed_cell_is_recorded_and_resume_completes(ray_local, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path, flag = write_toy(tmp_path), tmp_path / "flag"
    flag.touch()
    context = JobContext(Settings(data_dir=tmp_path / "d"))
    params = ExperimentParams(name=str(path), sets=(f"fail_if={flag}",), executor="ray", workers=2)
    first = run_experiment(context, params)
    assert len(first.failed) == 3 and "planted failure" in (first.failed[0].error or "")
    flag.unlink()
    again = run_experiment(context, ExperimentParams(**{**params.__dict__, "resume": True}))
    assert again.run_id == first.run_id and not again.failed and len(again.outcomes) == 3
