"""End to end through the real command line (a subprocess per command, embedded store in a temp data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from graphstore.tracking.db import SHIPPED_HEAD


def run_cli(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", **(env or {})}
    full_env.pop("GRAPHSTORE_GRAPH_STORE", None)
    full_env.pop("GRAPHSTORE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "graphstore.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    result = run_cli(tmp_path, "demo", "--epochs", "1", "--rounds", "1")
    assert result.returncode == 0, result.stderr
    for step in ("prune imp", "ingest", "analyze louvain", "query hubs", "shared_neurons", "nearest_classes"):
        assert step in result.stdout, step
    assert "done" in result.stdout
    return tmp_path


def test_demo_then_query_json(demo_dir):
    result = run_cli(
        demo_dir, "query", "hubs", "--param", "graph_id=demo-weights", "--param", "limit=3", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and all(r["uid"].startswith("demo-weights:") for r in rows)
    assert rows[0]["degree"] >= rows[-1]["degree"] > 0


def test_query_csv_and_list(demo_dir):
    result = run_cli(demo_dir, "query", "graph_summary", "-p", "graph_id=demo-weights", "-f", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "element,name,count" and "node,Neuron,203" in lines and "node,Class,10" in lines
    listing = run_cli(demo_dir, "query", "--list")
    assert "neighbourhood" in listing.stdout and "graph_id (graph)" in listing.stdout


def test_store_list_and_db_status(demo_dir):
    listing = run_cli(demo_dir, "store", "list")
    for graph_id in ("demo-weights", "demo-coactivation", "demo-knn-k8", "demo-class-graph"):
        assert graph_id in listing.stdout
    runs = run_cli(demo_dir, "runs", "list")
    assert "prune-imp" in runs.stdout and "train" in runs.stdout
    status = run_cli(demo_dir, "db", "status")
    assert status.returncode == 0 and SHIPPED_HEAD in status.stdout


def test_config_show_masks_password(tmp_path):
    result = run_cli(tmp_path, "config", "show", env={"GRAPHSTORE_NEO4J_PASSWORD": "s3cret-pw"})
    assert result.returncode == 0
    assert "s3cret-pw" not in result.stdout and "****" in result.stdout


def test_errors_exit_2_with_hint(demo_dir):
    result = run_cli(demo_dir, "query", "hubz", "-p", "graph_id=x")
    assert result.returncode == 2 and "Unknown query" in result.stderr and "Hint:" in result.stderr
    result = run_cli(demo_dir, "query", "hubs")
    assert result.returncode == 2 and "needs parameter graph_id" in result.stderr
    result = run_cli(demo_dir, "--graph-store", "bolt://127.0.0.1:1", "store", "status")
    assert result.returncode == 2 and "Cannot reach Neo4j at bolt://127.0.0.1:1" in result.stderr
    result = run_cli(demo_dir, "--database-url", "mysql://x", "db", "status")
    assert result.returncode == 2 and "sqlite:///" in result.stderr


def test_drop_graph(demo_dir):
    result = run_cli(demo_dir, "store", "drop-graph", "demo-weights")
    assert result.returncode == 0, result.stderr
    again = run_cli(demo_dir, "store", "drop-graph", "demo-weights")
    assert again.returncode == 2 and "not in the store" in again.stderr


def test_train_then_runs_list_and_show(tmp_path):
    trained = run_cli(tmp_path, "train", "--model", "small-cnn", "--dataset", "digits", "--epochs", "1")
    assert trained.returncode == 0, trained.stderr
    listing = run_cli(tmp_path, "runs", "list")
    assert "train" in listing.stdout and "completed" in listing.stdout
    shown = run_cli(tmp_path, "runs", "show", "1")
    assert shown.returncode == 0 and "epoch_1.pt" in shown.stdout and "train/loss" in shown.stdout
    missing = run_cli(tmp_path, "runs", "show", "99")
    assert missing.returncode == 2 and "not in the tracking database" in missing.stderr
