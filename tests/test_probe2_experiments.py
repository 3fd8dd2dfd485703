"""Issue 19's experiment findings kept as tests: each tried again through the installed `graphstore` command (a
subprocess per command) on SQLite tracking + the embedded store, and on PostgreSQL + Neo4j where the finding involves
the tracking DB or the stores (M3, M4). The toy pipeline (tests.experiment_support) keeps the grids instant.

M1 a module planted in the working folder is never imported by a worker (Ray, process pool); M3 a --resume whose grid
or parameters differ is refused naming the difference; M4 a --resume while the driver lives is refused, one after the
driver was SIGKILLed is accepted once its lease runs out, and the table counts each cell once; L1 an empty --set
axis; L3 definition files with a missing module, wrong types or bytes that are not UTF-8; L7 the resume hint, a local
definition hiding a shipped one, a 3-million-cell grid, a repeated --set, the --workers note.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphstore.tracking import open_tracking
from graphstore.tracking.testing import postgres_test_url, temporary_postgres_database
from tests.servers import neo4j_params
from tests.test_bad_input import cli_env, ok, refused
from tests.test_experiments import write_toy

ROOT = Path(__file__).resolve().parents[1]
GRAPHSTORE = (str(Path(sys.executable).parent / "graphstore"),)  # the console script: no working folder on sys.path
MARKER_MODULE = 'from pathlib import Path\nPath({marker!r}).write_text("imported from the working folder")\n'


@dataclass
class Target:
    """The environment the CLI gets, and the tracking URL the checks read."""

    name: str
    env: dict[str, str]
    url: str


def run(cwd: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`graphstore ARGS` in `cwd`, with the test pipeline importable through PYTHONPATH (never the working folder)."""
    full = cli_env(cwd, {**env, "PYTHONPATH": str(ROOT)})
    return subprocess.run([*GRAPHSTORE, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=timeout)


def start(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`graphstore ARGS` in the background (a driver to refuse a second resume beside, then to SIGKILL)."""
    full = cli_env(cwd, {**env, "PYTHONPATH": str(ROOT)})
    return subprocess.Popen(
        [*GRAPHSTORE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=cwd
    )


def experiment_runs(url: str) -> list:
    """The experiment runs recorded, newest first."""
    with open_tracking(url) as tracking:
        return tracking.list_runs(kind="experiment", limit=None)


def cells_and_rows(url: str, run_id: int) -> tuple[list, list[dict]]:
    """An experiment run's cell runs and the rows of its 'sums' table (completed cells only)."""
    with open_tracking(url) as tracking:
        cells = [c for c in tracking.list_child_runs(run_id) if c.kind == "experiment-cell"]
        rows = [dict(r.row) for r in tracking.experiment_rows(run_id, "sums")]
    return cells, rows


@pytest.fixture(params=["embedded", pytest.param("servers", marks=(pytest.mark.neo4j, pytest.mark.postgres))])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """SQLite + the embedded store, or a throw-away PostgreSQL database + Neo4j (the test servers)."""
    data = tmp_path / "data"
    if request.param == "embedded":
        yield Target("embedded", {"GRAPHSTORE_DATA_DIR": str(data)}, f"sqlite:///{data / 'tracking.db'}")
        return
    neo4j = neo4j_params()
    with temporary_postgres_database(postgres_test_url()) as url:
        env = {
            "GRAPHSTORE_DATA_DIR": str(data),
            "GRAPHSTORE_DATABASE_URL": url,
            "GRAPHSTORE_GRAPH_STORE": neo4j.uri,
            "GRAPHSTORE_NEO4J_USER": neo4j.user,
            "GRAPHSTORE_NEO4J_PASSWORD": neo4j.password,
        }
        ok(run(tmp_path, env, "db", "upgrade"))
        yield Target("servers", env, url)


@pytest.fixture
def embedded(tmp_path: Path) -> Target:
    """SQLite + the embedded store only (findings that involve no store)."""
    data = tmp_path / "data"
    return Target("embedded", {"GRAPHSTORE_DATA_DIR": str(data)}, f"sqlite:///{data / 'tracking.db'}")


# ---- M1: workers import nothing from the working folder -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["ray", "local"])
def test_m1_workers_never_import_a_module_planted_in_the_working_folder(executor, embedded, tmp_path) -> None:
    marker = tmp_path / "MARKER"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "igraph.py").write_text(MARKER_MODULE.format(marker=str(marker)))  # what another user could plant
    toy = write_toy(tmp_path)
    args = ("experiment", "run", str(toy), "--set", "seed=0,1", "--set", "imports=igraph", "--no-progress")
    result = ok(run(shared, embedded.env, *args, "--executor", executor, "--workers", "2", timeout=420))
    assert "2 cell(s) completed, 0 failed" in result.stderr, result.stderr
    assert not marker.exists(), f"a {executor} worker imported the planted igraph.py"
    (run_record,) = experiment_runs(embedded.url)
    cells, rows = cells_and_rows(embedded.url, run_record.id)
    assert [c.status for c in cells] == ["completed"] * 2 and len(rows) == 2


# ---- M3 and L1: a resume must match the recorded grid; an axis needs values ---------------------------------------


def test_m3_resume_with_other_parameters_or_grid_is_refused_naming_the_difference(target, tmp_path) -> None:
    toy = str(write_toy(tmp_path))
    ok(run(tmp_path, target.env, "experiment", "run", toy, "--set", "seed=0,1", "--no-progress"))
    (first,) = experiment_runs(target.url)
    base = ("experiment", "run", toy, "--resume", "--no-progress")
    err = refused(
        run(tmp_path, target.env, *base, "--set", "seed=0,1", "--set", "a=7"), "parameter a", "--set seed=0,1"
    )
    assert "recorded 1, now 7" in err
    refused(run(tmp_path, target.env, *base, "--set", "seed=0,1,2"), "grid axis seed", "[0, 1]", "[0, 1, 2]")
    refused(run(tmp_path, target.env, *base), "grid axis seed")  # the definition's own grid is [0, 1, 2]
    (after,) = experiment_runs(target.url)
    assert after.status == "completed" and after.params == first.params  # the run still names what it ran
    cells, rows = cells_and_rows(target.url, first.id)
    assert len(cells) == 2 and sorted(r["total"] for r in rows) == [1, 2]  # n = 2 for a 2-cell grid
    again = ok(run(tmp_path, target.env, *base, "--set", "seed=0,1"))
    assert "0 cell(s) completed, 0 failed, 2 skipped as done" in again.stderr
    refused(run(tmp_path, target.env, *base, "--set", "seed=1,0"), "grid axis seed")  # another order, other cells


@pytest.mark.parametrize(
    ("sets", "phrase"),
    [(("seed=",), "Grid axis seed has no values"), (("seed=,",), "Grid axis seed has no values"), (("a=",), "a=")],
)
def test_l1_an_empty_axis_is_refused_before_any_run(sets, phrase, embedded, tmp_path) -> None:
    toy = str(write_toy(tmp_path))
    args = [a for s in sets for a in ("--set", s)]
    refused(run(tmp_path, embedded.env, "experiment", "run", toy, *args, "--no-progress"), phrase)
    assert not (tmp_path / "data" / "tracking.db").exists() or experiment_runs(embedded.url) == []


# ---- L3: definition files that are wrong are clear errors ---------------------------------------------------------

BAD_DEFINITIONS = {
    "missing-module": ('pipeline = "tests.experiment_support:toy-sum"', 'pipeline = "no_such_pkg.pipes:toy"'),
    "value-abc": ("value = 1.5", 'value = "abc"'),
    "where-x": ("where = { a = 1 }", 'where = "x"'),
    "params-5": ("[params]\nfactor = 2.0", "params = 5"),
}


@pytest.mark.parametrize("case", [*BAD_DEFINITIONS, "not-utf8"])
def test_l3_a_bad_definition_file_is_a_clear_error(case, embedded, tmp_path) -> None:
    toy = write_toy(tmp_path)
    text = toy.read_text()
    if case == "not-utf8":
        toy.write_bytes(text.replace("Sums over a grid", "Summen").encode() + b"\n# caf\xe9 \xff\n")
    else:
        old, new = BAD_DEFINITIONS[case]
        assert old in text
        toy.write_text(text.replace(old, new))
    phrase = {
        "missing-module": "Cannot import module 'no_such_pkg.pipes'",
        "value-abc": f"{toy}: [[paper_values]] value must be a number, not 'abc'",
        "where-x": f"{toy}: [[paper_values]] where must be a table",
        "params-5": f"{toy}: params must be a table",
        "not-utf8": f"{toy} is not UTF-8 text",
    }[case]
    refused(run(tmp_path, embedded.env, "experiment", "run", str(toy), "--no-progress"), phrase)
    assert not (tmp_path / "data" / "tracking.db").exists() or experiment_runs(embedded.url) == []


# ---- L7: usability --------------------------------------------------------------------------------------------------


def test_l7_the_resume_hint_of_a_definition_given_by_path_works_as_printed(embedded, tmp_path) -> None:
    flag = tmp_path / "fail now"
    flag.touch()
    toy = str(write_toy(tmp_path))
    failed = run(tmp_path, embedded.env, "experiment", "run", toy, "--set", f"fail_if={flag}", "--no-progress")
    assert failed.returncode == 1, failed.stderr
    hint = next(line for line in failed.stderr.splitlines() if "--resume" in line)
    command = shlex.split(hint.split("continue with: ", 1)[1])
    assert command[:3] == ["graphstore", "experiment", "run"] and command[3] == toy
    flag.unlink()
    resumed = ok(run(tmp_path, embedded.env, *command[1:], "--no-progress"))
    assert "3 cell(s) completed, 0 failed" in resumed.stderr and "resuming experiment run 1" in resumed.stderr


def test_l7_a_local_definition_replacing_a_shipped_one_is_said(embedded, tmp_path) -> None:
    (tmp_path / "experiments").mkdir()
    local = tmp_path / "experiments" / "hierarchy-runs.toml"
    write_toy(tmp_path).rename(local)
    local.write_text(local.read_text().replace('name = "toy"', 'name = "hierarchy-runs"'))
    result = ok(run(tmp_path, embedded.env, "experiment", "run", "hierarchy-runs", "--no-progress"))
    assert "replaces the shipped definition 'hierarchy-runs'" in result.stderr, result.stderr
    listed = ok(run(tmp_path, embedded.env, "experiment", "list", "--runs", "0"))
    assert "replaces the shipped hierarchy-runs.toml" in listed.stdout, listed.stdout


def test_l7_a_three_million_cell_grid_is_refused_unless_asked_for(embedded, tmp_path) -> None:
    toy = str(write_toy(tmp_path))
    seeds, addends = ",".join(map(str, range(2000))), ",".join(map(str, range(1500)))
    began = time.monotonic()
    result = run(tmp_path, embedded.env, "experiment", "run", toy, "--set", f"seed={seeds}", "--set", f"a={addends}")
    refused(result, "3,000,000 cells", "--max-cells 3000000")
    assert time.monotonic() - began < 60  # refused before the cells are built
    small = ok(run(tmp_path, embedded.env, "experiment", "run", toy, "--set", "seed=0,1,2,3", "--max-cells", "4"))
    assert "4 cell(s) completed" in small.stderr
    refused(run(tmp_path, embedded.env, "experiment", "run", toy, "--set", "seed=0,1,2,3", "--max-cells", "3"), "4")


def test_l7_a_repeated_set_is_refused_not_silently_the_last(embedded, tmp_path) -> None:
    toy = str(write_toy(tmp_path))
    result = run(tmp_path, embedded.env, "experiment", "run", toy, "--set", "seed=0", "--set", "seed=1")
    refused(result, "--set seed is given 2 times", "--set seed=0,1")
    assert not (tmp_path / "data" / "tracking.db").exists() or experiment_runs(embedded.url) == []


def test_l7_the_workers_note_names_reading_cells_too(embedded, tmp_path) -> None:
    toy = str(write_toy(tmp_path))
    result = ok(run(tmp_path, embedded.env, "experiment", "run", toy, "--workers", "2", "--no-progress"))
    assert "every cell that opens it (to ingest, or only to read" in result.stderr, result.stderr


# ---- M4: one driver per run, surviving SIGKILL ---------------------------------------------------------------------


def wait_until(condition, proc: subprocess.Popen[str], what: str, timeout: float = 180) -> None:
    """Poll `condition` while `proc` runs; fail when it ends first or the time is up."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"{what}: the driver ended first (rc {proc.returncode})\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def _started_cells(url: str) -> int:
    """How many cell runs the newest experiment run has started so far (0 before the driver made its database)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    runs = experiment_runs(url)
    return len(cells_and_rows(url, runs[0].id)[0]) if runs else 0


def _cells_with(url: str, status: str) -> int:
    """How many cells of the newest experiment run have `status`."""
    return sum(c.status == status for c in cells_and_rows(url, experiment_runs(url)[0].id)[0])


@pytest.mark.slow
def test_m4_a_second_resume_is_refused_while_the_driver_lives_and_accepted_after_sigkill(target, tmp_path) -> None:
    toy, hold = str(write_toy(tmp_path)), tmp_path / "hold"
    hold.touch()  # the first driver's cells wait on this file, so it is surely alive when the second resume comes
    grid = ("--set", "seed=0,1,2,3", "--set", f"hold={hold}", "--heartbeat", "1", "--no-progress")
    first = start(tmp_path, target.env, "experiment", "run", toy, *grid, "--workers", "2")
    try:
        wait_until(lambda: _started_cells(target.url) >= 2, first, "two cells run")
        refused(run(tmp_path, target.env, "experiment", "run", toy, *grid, "--resume"), "still running", "--resume")
    finally:
        os.kill(first.pid, signal.SIGKILL)  # the driver dies; its two pool workers go on waiting in their cells
        first.wait(timeout=60)
        for pipe in (first.stdout, first.stderr):  # the orphaned workers keep these open: do not wait for EOF
            if pipe:
                pipe.close()
    (run_record,) = experiment_runs(target.url)
    assert run_record.status == "running"  # nobody finished it: only the lease running out frees it
    time.sleep(4)  # 3 missed heartbeats of 1 s
    second = start(tmp_path, target.env, "experiment", "run", toy, *grid, "--resume")
    wait_until(lambda: _cells_with(target.url, "interrupted") == 2, second, "the resume marks the cells interrupted")
    hold.unlink()  # the killed driver's workers now finish their cells, after the takeover
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, f"rc {second.returncode}\n{out}\n{err}"
    assert f"resuming experiment run {run_record.id}: 0 cell(s) already done" in err, err
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("hold.*.after"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(tmp_path.glob("hold.*.after"))) >= 2  # both orphaned cells ran to their end
    time.sleep(2)  # and had time to try to record themselves completed
    cells, rows = cells_and_rows(target.url, run_record.id)
    completed = [c for c in cells if c.status == "completed"]
    assert sorted(c.params["key"] for c in completed) == [f"seed={s}" for s in range(4)]  # each cell once
    # the orphans' cells stay interrupted (an orphan may even start a queued cell: refused as well)
    others = [c.status for c in cells if c.status != "completed"]
    assert len(others) >= 2 and set(others) == {"interrupted"}, [(c.params["key"], c.status) for c in cells]
    assert sorted(r["seed"] for r in rows) == [0, 1, 2, 3]  # n = 4 for a 4-cell grid
    assert experiment_runs(target.url)[0].status == "completed"
    shown = ok(run(tmp_path, target.env, "experiment", "show", str(run_record.id)))
    assert "(n=4)" in shown.stdout, shown.stdout
