"""The experiment's parent run and its cells go through run_lifecycle (issue 20 item 2): a failure is `failed` with
its message, Ctrl-C is `interrupted`, an executor that cannot start (Ray missing) ends the run `failed` naming the fix.

Real tracking databases (SQLite and the shared PostgreSQL); the CLI runs as a subprocess for the signal and the
missing module, as a user would run it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphstore.config import Settings
from graphstore.jobs.base import JobContext
from graphstore.tracking import open_tracking
from graphstore.tracking.db import upgrade
from graphstore.tracking.records import RunRecord
from graphstore.tracking.testing import backend_url
from tests.test_experiments import ROOT, run, write_toy


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def context(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobContext]:
    """A job context on a fresh tracking DB of each backend."""
    with backend_url(request.param, tmp_path) as url:
        upgrade(url)
        yield JobContext(Settings(data_dir=tmp_path / "data", database_url=url))


def test_a_cell_whose_pipeline_raises_is_failed_with_its_message(context: JobContext, tmp_path: Path) -> None:
    path = write_toy(tmp_path)
    flag = tmp_path / "fail"
    flag.touch()
    result = run(context, path, "seed=0,1", f"fail_if={flag}")
    assert [o.status for o in result.outcomes] == ["failed", "failed"]  # type: ignore[attr-defined]
    with context.open_tracking() as tracking:
        parent = tracking.get_run(result.run_id)  # type: ignore[attr-defined]
        cells = tracking.list_child_runs(result.run_id)  # type: ignore[attr-defined]
    assert [c.status for c in cells] == ["failed", "failed"]
    assert all((c.error or "").startswith(f"RuntimeError: planted failure ({flag} exists)") for c in cells)
    assert all(c.finished_at is not None for c in cells)
    assert parent is not None and parent.status == "failed" and parent.error == "2 of 2 cells failed: seed=0, seed=1"


def cli_env(tmp_path: Path, pythonpath: str = str(ROOT)) -> dict[str, str]:
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": pythonpath}
    env.pop("GRAPHSTORE_DATABASE_URL", None)
    return env


def runs_of(tmp_path: Path) -> list[RunRecord]:
    """Every run in the SQLite tracking DB the CLI used (under the data folder)."""
    with open_tracking(Settings(data_dir=tmp_path / "data").tracking_url) as tracking:
        return tracking.list_runs(limit=100)


def wait_for_running_cell(tmp_path: Path, process: subprocess.Popen[str]) -> None:
    """Until the experiment's cell run is recorded running (the driver is then inside the cell)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if any(r.kind == "experiment-cell" and r.status == "running" for r in runs_of(tmp_path)):
                return
        except Exception:  # the DB is still being created by the subprocess
            pass
        time.sleep(0.2)
    raise AssertionError("the cell never started")


def test_sigint_records_interrupted_for_the_parent_and_the_running_cell(tmp_path: Path) -> None:
    path, hold = write_toy(tmp_path), tmp_path / "hold"
    hold.touch()  # the cell waits while this file exists
    command = [sys.executable, "-m", "graphstore.cli.main", "experiment", "run", str(path), "--no-progress"]
    command += ["--set", "seed=0", "--set", f"hold={hold}"]
    process = subprocess.Popen(command, env=cli_env(tmp_path), cwd=tmp_path, text=True, stderr=subprocess.PIPE)
    try:
        wait_for_running_cell(tmp_path, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Interrupted:" in stderr and "Traceback" not in stderr
    runs = {r.kind: r for r in runs_of(tmp_path)}
    parent, cell = runs["experiment"], runs["experiment-cell"]
    assert (parent.status, cell.status) == ("interrupted", "interrupted")
    assert parent.error == "KeyboardInterrupt" and cell.error == "KeyboardInterrupt"
    assert parent.finished_at is not None and cell.finished_at is not None
    assert not (tmp_path / f"{hold}.0.after").exists()  # the cell did not go on after the signal


def test_ray_missing_fails_the_run_naming_the_fix(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'ray' (test shim)\")\n")
    env = cli_env(tmp_path, f"{shim.parent}{os.pathsep}{ROOT}")
    command = [sys.executable, "-m", "graphstore.cli.main", "experiment", "run", str(write_toy(tmp_path))]
    done = subprocess.run(
        [*command, "--executor", "ray", "--no-progress"], env=env, cwd=tmp_path, text=True, capture_output=True
    )
    assert done.returncode == 2, done.stderr
    assert "Error:" in done.stderr and "needs Ray" in done.stderr and "Traceback" not in done.stderr
    assert "Hint:" in done.stderr and "pip install 'graphstore[ray]'" in done.stderr
    runs = runs_of(tmp_path)
    assert [(r.kind, r.status) for r in runs] == [("experiment", "failed")]  # no cell ran
    assert (runs[0].error or "").startswith("ExecutorUnavailable: --executor ray needs Ray, which is not installed.")
    assert "pip install 'graphstore[ray]'" in (runs[0].error or "")  # the fix is recorded with the failure
