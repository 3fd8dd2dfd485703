"""The experiment framework on a test pipeline (tests.experiment_support): plan, record, fail, resume, show, CLI.

Real tracking databases (SQLite, and PostgreSQL where marked); the pipeline does arithmetic so grids are instant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.experiment_support  # noqa: F401  (registers toy-sum)
from graphstore.config import Settings
from graphstore.errors import GraphstoreError
from graphstore.experiments.definition import InvalidDefinition, find_definition
from graphstore.experiments.plan import UnknownSetting, make_plan
from graphstore.experiments.results import load_tables
from graphstore.experiments.runner import ExperimentDataMissing, ExperimentParams, run_experiment
from graphstore.experiments.show import ListParams, experiment_report, run_list
from graphstore.jobs.base import JobContext
from graphstore.registry import UnknownName
from graphstore.tracking.db import upgrade
from graphstore.tracking.testing import backend_url

ROOT = Path(__file__).resolve().parents[1]

TOY = """
name = "toy"
pipeline = "tests.experiment_support:toy-sum"
document = "test"
title = "Sums over a grid"

[params]
factor = 2.0

[smoke]
params = {{ a = 1{extra} }}
grid = {{ seed = [0, 1, 2] }}

[paper]
params = {{ a = 10, dataset = "mnist", data_root = "{root}" }}
grid = {{ seed = [0] }}

[[tables]]
name = "sums"
group = ["a"]
values = ["total", "scaled"]
title = "Sums per a"

[[paper_values]]
table = "sums"
where = {{ a = 1 }}
column = "total"
value = 1.5
source = "nobody, Table 0"
"""


def write_toy(folder: Path, extra: str = "") -> Path:
    """The toy definition in `folder`/toy.toml."""
    path = folder / "toy.toml"
    path.write_text(TOY.format(extra=extra, root=folder / "no-mnist-here"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def context(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobContext]:
    """A job context on a fresh tracking DB of each backend."""
    with backend_url(request.param, tmp_path) as url:
        upgrade(url)
        yield JobContext(Settings(data_dir=tmp_path / "data", database_url=url))


def run(context: JobContext, path: Path, *sets: str, **kw: object) -> object:
    return run_experiment(context, ExperimentParams(name=str(path), sets=tuple(sets), **kw))  # type: ignore[arg-type]


def test_grid_runs_as_parent_and_children_with_rows_and_summary(context: JobContext, tmp_path: Path) -> None:
    path = write_toy(tmp_path, extra=", link = true")
    result = run(context, path)
    assert [o.status for o in result.outcomes] == ["completed"] * 3
    with context.open_tracking() as tracking:
        parent = tracking.get_run(result.run_id)
        assert parent.kind == "experiment" and parent.status == "completed"
        assert parent.params["grid"] == {"seed": [0, 1, 2]} and parent.params["params"]["factor"] == 2.0
        cells = tracking.list_child_runs(result.run_id)
        assert [c.params["key"] for c in cells] == ["seed=0", "seed=1", "seed=2"]
        assert all(c.kind == "experiment-cell" and c.status == "completed" for c in cells)
        linked = [r for c in cells for r in tracking.list_child_runs(c.id)]
        assert [r.kind for r in linked] == ["toy"] * 3
        tables = load_tables(tracking, result.run_id)
    assert [r["total"] for r in tables["sums"]] == [1, 2, 3]
    assert [r["seed"] for r in tables["sums"]] == [0, 1, 2]  # the grid point is in every row
    assert [r["label"] for r in tables["labels"]] == ["odd", "even", "odd"]
    report = experiment_report(context, result.run_id)
    sums = report.summaries[0]
    assert sums.spec.name == "sums" and len(sums.rows) == 1
    total = sums.rows[0]["total"]
    assert total.mean == pytest.approx(2.0) and total.std == pytest.approx(1.0) and total.n == 3
    assert sums.rows[0]["scaled"].mean == pytest.approx(4.0)  # factor 2 from [params]
    (cmp,) = report.comparisons
    assert cmp.paper.value == 1.5 and cmp.difference == pytest.approx(0.5)
    labels = next(s for s in report.summaries if s.spec.name == "labels")
    assert "odd ×2" in labels.rows[0]["label"].show()


def test_sets_override_params_and_make_axes(tmp_path: Path) -> None:
    definition = find_definition(str(write_toy(tmp_path)))
    from graphstore.experiments.base import find_pipeline

    pipeline = find_pipeline(definition.pipeline)
    plan = make_plan(definition, pipeline, "smoke", ("a=5", "seed=3,4", "weights=0.5,0.25"))
    assert [c.key for c in plan.cells] == ["seed=3", "seed=4"]
    assert plan.cells[0].params.a == 5 and plan.cells[1].params.seed == 4
    assert plan.cells[0].params.weights == (0.5, 0.25)  # a comma list for a tuple parameter is its value
    two_axes = make_plan(definition, pipeline, "smoke", ("a=1,2",))
    assert [c.key for c in two_axes.cells] == [f"seed={s},a={a}" for s in (0, 1, 2) for a in (1, 2)]
    assert two_axes.cells[0].fingerprint != two_axes.cells[1].fingerprint
    with pytest.raises(UnknownSetting) as unknown:
        make_plan(definition, pipeline, "smoke", ("nope=1",))
    assert "nope" in unknown.value.message and "seed=0" in (unknown.value.hint or "")
    with pytest.raises(GraphstoreError) as bad:
        make_plan(definition, pipeline, "smoke", ("a=x",))
    assert "a='x'" in str(bad.value) or "a=" in str(bad.value)


def test_failed_cell_is_recorded_others_go_on_and_resume_runs_only_it(context: JobContext, tmp_path: Path) -> None:
    flag = tmp_path / "fail-now"
    path = write_toy(tmp_path)
    flag.touch()
    first = run(context, path, f"fail_if={flag}", "seed=0,1,2")
    assert [o.status for o in first.outcomes] == ["failed"] * 3
    flag.unlink()
    # one cell fails on its own: a grid where only seed=1 points at an existing file is not expressible, so fail all,
    # fix, resume: every cell runs again under the same parent, and the failed attempts stay recorded
    second = run(context, path, f"fail_if={flag}", "seed=0,1,2", resume=True)
    assert second.run_id == first.run_id and second.resumed and not second.skipped
    assert [o.status for o in second.outcomes] == ["completed"] * 3
    third = run(context, path, f"fail_if={flag}", "seed=0,1,2", resume=True)
    assert third.run_id == first.run_id and third.skipped == ["seed=0", "seed=1", "seed=2"] and not third.outcomes
    with context.open_tracking() as tracking:
        cells = tracking.list_child_runs(first.run_id)
        assert [c.status for c in cells] == ["failed"] * 3 + ["completed"] * 3
        assert "planted failure" in (cells[0].error or "")
        assert tracking.get_run(first.run_id).status == "completed"
        assert len(load_tables(tracking, first.run_id)["sums"]) == 3


def test_one_failing_cell_fails_the_run_naming_it(context: JobContext, tmp_path: Path) -> None:
    path = write_toy(tmp_path)
    missing = tmp_path / "absent"
    result = run(context, path, "seed=0,1", f"fail_if={tmp_path}", "a=1,2")
    assert all(o.status == "failed" for o in result.outcomes)
    ok = run(context, path, f"fail_if={missing}")
    assert not ok.failed
    with context.open_tracking() as tracking:
        parent = tracking.get_run(result.run_id)
    assert parent.status == "failed" and "4 of 4 cells failed" in (parent.error or "")


def test_unknown_experiment_lists_close_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    write_toy(tmp_path / "experiments")
    with pytest.raises(UnknownName) as exc:
        find_definition("tyo")
    assert "toy" in exc.value.message and "toy" in (exc.value.hint or "")
    with pytest.raises(InvalidDefinition):
        find_definition(str(tmp_path / "nothing.toml"))
    (tmp_path / "experiments" / "broken.toml").write_text("name = 'broken'\n[smoke\n")
    listing = run_list(JobContext(Settings(data_dir=tmp_path / "d")), ListParams(runs=0))
    names = {o.name: o for o in listing.offered}
    assert names["toy"].cells == {"smoke": 3, "paper": 1}
    assert names["broken"].error and "not valid TOML" in names["broken"].error


def test_paper_scale_names_missing_files_before_any_run(context: JobContext, tmp_path: Path) -> None:
    path = write_toy(tmp_path)
    with pytest.raises(ExperimentDataMissing) as exc:
        run(context, path, scale="paper")
    assert "mnist" in exc.value.message and "no-mnist-here" in exc.value.message
    with context.open_tracking() as tracking:
        assert tracking.list_runs(kind="experiment") == []


def test_worker_pool_records_the_same_rows_as_in_order(tmp_path: Path) -> None:
    path = write_toy(tmp_path)
    results = {}
    notes: list[str] = []
    for workers in (1, 2):
        ctx = JobContext(Settings(data_dir=tmp_path / f"w{workers}"), note=notes.append)
        out = run(ctx, path, "seed=0,1,2,3", workers=workers)
        assert not out.failed
        with ctx.open_tracking() as tracking:
            rows = load_tables(tracking, out.run_id)["sums"]
        results[workers] = sorted((r["seed"], r["total"], r["scaled"]) for r in rows)
    assert results[1] == results[2] and len(results[1]) == 4
    assert sum("embedded graph store is opened by one process" in n for n in notes) == 1  # said for workers=2 only


def test_cli_run_show_list_and_failure_exit(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("GRAPHSTORE_DATABASE_URL", None)
    path = write_toy(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "graphstore.cli.main", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    ok = cli("experiment", "run", str(path), "--no-progress")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Sums per a" in ok.stdout and "nobody, Table 0" in ok.stdout and "+0.5" in ok.stdout
    assert "3 cell(s) completed, 0 failed" in ok.stderr
    shown = cli("experiment", "show", "1")
    assert shown.returncode == 0 and "seed=2" in shown.stdout and "completed" in shown.stdout
    listed = cli("experiment", "list")
    assert listed.returncode == 0 and "toy" not in listed.stdout.split("recent")[0]  # not in ./experiments
    failed = cli("experiment", "run", str(path), "--set", f"fail_if={path}", "--no-progress")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "3 failed" in failed.stderr and "--resume" in failed.stderr
    unknown = cli("experiment", "run", "no-such-experiment")
    assert unknown.returncode == 2 and "graphstore experiment list" in unknown.stderr
    bad_key = cli("experiment", "run", str(path), "--set", "nope=1")
    assert bad_key.returncode == 2 and "seed=0" in bad_key.stderr
    not_experiment = cli("experiment", "show", "2")
    assert not_experiment.returncode == 2 and "not an experiment run" in not_experiment.stderr
