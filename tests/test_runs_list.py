"""`graphstore runs list`: filters, final metrics as columns, and table / CSV / JSON output, on SQLite and
PostgreSQL (each case runs the real CLI on a tracking DB the test fills through the repository API)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graphstore.errors import InvalidParams
from graphstore.jobs.runs import metric_columns, parse_since
from graphstore.tracking import open_tracking

CLI = (sys.executable, "-m", "graphstore.cli.main")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def filled(request, tmp_path: Path) -> tuple[dict[str, str], str, dict[str, int]]:
    """A tracking DB with a train run (two epochs), two prune runs under it and one failed run; unique names."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracking.db'}"
    else:
        from tests.servers import postgres_url

        url = postgres_url()
        subprocess.run([*CLI, "db", "upgrade"], env={**os.environ, "GRAPHSTORE_DATABASE_URL": url}, check=True)
    tag = uuid.uuid4().hex[:8]
    ids: dict[str, int] = {}
    with open_tracking(url) as tracking:
        with tracking.tracked_run("train", f"{tag}-mlp-digits", {"lr": 0.01}) as run:
            ids["train"] = run
            tracking.log_metrics(run, 1, {"accuracy": 0.5, "loss": 1.0}, split="test")
            tracking.log_metrics(run, 2, {"accuracy": 0.9123456789, "loss": 0.25}, split="test")
        for r in (1, 2):
            with tracking.tracked_run("prune-imp", f"{tag}-imp-{r}", {}, parent_run_id=ids["train"]) as run:
                ids[f"prune{r}"] = run
                tracking.log_metrics(run, r, {"sparsity": 0.2 * r})
        with pytest.raises(RuntimeError), tracking.tracked_run("train", f"{tag}-broken", {}) as run:
            ids["failed"] = run
            raise RuntimeError("boom")
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "GRAPHSTORE_DATABASE_URL": url}
    env.pop("GRAPHSTORE_CONFIG", None)
    return env, tag, ids


def runs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "runs", "list", *args], capture_output=True, text=True, env=env, timeout=120)


def as_json(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_lists_runs_newest_first_with_final_metrics(filled) -> None:
    env, tag, ids = filled
    rows = as_json(runs(env, "--name", f"{tag}-*", "--format", "json"))
    assert [r["id"] for r in rows] == sorted(ids.values(), reverse=True)
    train = next(r for r in rows if r["id"] == ids["train"])
    assert train["test/accuracy"] == pytest.approx(0.9123456789)  # the last epoch's value, every digit
    assert train["status"] == "completed" and train["kind"] == "train"
    assert next(r for r in rows if r["id"] == ids["prune2"])["sparsity"] == pytest.approx(0.4)
    assert next(r for r in rows if r["id"] == ids["failed"])["status"] == "failed"


def test_filters_by_kind_name_parent_status_and_since(filled) -> None:
    env, tag, ids = filled
    pattern = ("--name", f"{tag}-*", "--format", "json")
    assert {r["id"] for r in as_json(runs(env, "--kind", "prune-imp", *pattern))} == {ids["prune1"], ids["prune2"]}
    assert {r["id"] for r in as_json(runs(env, "--parent", str(ids["train"]), *pattern))} == {
        ids["prune1"],
        ids["prune2"],
    }
    assert [r["id"] for r in as_json(runs(env, "--status", "failed", *pattern))] == [ids["failed"]]
    assert [r["id"] for r in as_json(runs(env, "--name", f"{tag}-imp-*", "--format", "json"))] == [
        ids["prune2"],
        ids["prune1"],
    ]
    assert len(as_json(runs(env, "--since", "1h", *pattern))) == 4
    assert as_json(runs(env, "--since", "2999-01-01", *pattern)) == []


def test_csv_and_chosen_metric_columns(filled) -> None:
    env, tag, ids = filled
    done = runs(env, "--name", f"{tag}-mlp*", "--metric", "loss", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [int(r["id"]) for r in rows] == [ids["train"]]
    assert float(rows[0]["test/loss"]) == pytest.approx(0.25)


def test_piped_table_shows_whole_names_and_four_digit_metrics(filled) -> None:
    env, tag, _ = filled
    done = runs(env, "--name", f"{tag}-*")
    assert done.returncode == 0, done.stderr
    assert f"{tag}-mlp-digits" in done.stdout and "0.9123" in done.stdout and "0.9123456" not in done.stdout


def test_a_bad_since_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path)}
    done = runs(env, "--since", "yesterday-ish")
    assert done.returncode == 2
    assert "Error:" in done.stderr and "--since 2h" in done.stderr


def test_parse_since_and_metric_columns() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert parse_since("1w", now) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("2026-12-01T14:30+01:00") == datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
    with pytest.raises(InvalidParams):
        parse_since("soon")
    final = {1: {"test/accuracy": 0.9, "val/accuracy": 0.8, "train/loss": 0.1}, 2: {"sparsity": 0.5}}
    assert metric_columns(final, ()) == ["test/accuracy", "val/accuracy", "sparsity"]
    assert metric_columns(final, ("accuracy",)) == ["test/accuracy", "val/accuracy"]
    assert metric_columns(final, ("nothing",)) == ["nothing"]
    assert parse_since("0m") <= datetime.now(UTC)
