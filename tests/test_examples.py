"""The scripts in examples/ run as a user runs them (a Python subprocess each), on the embedded store + SQLite in a
temporary folder and, for the two that store, on the shared Neo4j + PostgreSQL; the stored graphs are checked."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import graphstore as gs
from tests.servers import neo4j_params, postgres_url

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KINDS = ("weights", "coactivation", "knn-k4", "knn-k8", "knn-k16")


def run_example(name: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """examples/<name> in a fresh interpreter with exactly the GRAPHSTORE_* settings of `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **env},
        timeout=300,
    )


def settings_env(backend: str, tmp_path: Path) -> dict[str, str]:
    """GRAPHSTORE_* for the embedded store + SQLite under tmp_path, or the shared Neo4j + PostgreSQL."""
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}
    if backend == "servers":
        p = neo4j_params()
        env.update(
            GRAPHSTORE_GRAPH_STORE=p.uri,
            GRAPHSTORE_NEO4J_USER=p.user,
            GRAPHSTORE_NEO4J_PASSWORD=p.password,
            GRAPHSTORE_DATABASE_URL=postgres_url(),
        )
    return env


def connect(env: dict[str, str]) -> gs.Session:
    """A session on the same settings as the example's (arguments, so this process's environment does not count)."""
    return gs.connect(
        env.get("GRAPHSTORE_GRAPH_STORE") or None,
        env.get("GRAPHSTORE_DATABASE_URL") or None,
        data_dir=env["GRAPHSTORE_DATA_DIR"],
        neo4j_user=env.get("GRAPHSTORE_NEO4J_USER", "neo4j"),
        neo4j_password=env.get("GRAPHSTORE_NEO4J_PASSWORD", ""),
    )


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("servers", marks=[pytest.mark.neo4j, pytest.mark.postgres])]
)
def test_train_ingest_then_query_and_analyse(backend, tmp_path):
    """(a) trains an MLP and ingests it; its graphs are stored under the run it records; (c) queries the knn graph's
    hubs and runs Louvain on it, which is then recorded."""
    env, prefix = settings_env(backend, tmp_path), f"ex-{uuid.uuid4().hex[:8]}"
    ingest = run_example("ingest_after_training.py", env, tmp_path, prefix)
    assert ingest.returncode == 0, ingest.stderr
    assert "test accuracy" in ingest.stdout and f"{prefix}-knn-k8:" in ingest.stdout
    ids = [f"{prefix}-{kind}" for kind in KINDS]
    try:
        with connect(env) as db:
            stored = {g.graph_id: g for g in db.graphs()}
            assert set(ids) <= set(stored) and all(stored[i].status == "complete" for i in ids)
            run = next(r for r in db.runs(kind="ingest") if r.id == stored[ids[0]].run_id)
            assert run.params["model"]["class"] == "Sequential" and len(run.params["model"]["sha256"]) == 64
        query = run_example("query_and_analyse.py", env, tmp_path, f"{prefix}-knn-k8")
        assert query.returncode == 0, query.stderr
        assert "louvain on" in query.stdout and "degree" in query.stdout
        with connect(env) as db:
            assert "louvain" in db.read(f"{prefix}-knn-k8").nodes["Sample"].props
            assert [a.name for a in db.connections.tracking.list_analyses(f"{prefix}-knn-k8")] == ["louvain"]
    finally:
        with connect(env) as db:
            for graph_id in ids:
                db.drop(graph_id)


def test_query_example_without_a_graph_says_what_to_do(tmp_path):
    """(c) on an empty store ends with Error: and the hint, no traceback."""
    result = run_example("query_and_analyse.py", settings_env("embedded", tmp_path), tmp_path, "nothing-here")
    assert result.returncode == 1
    assert "Error: Graph 'nothing-here' is not in the store" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_resnet_to_networkx(tmp_path):
    """(b) extracts resnet18's weight and co-activation graphs and summarises their degrees in networkx."""
    result = run_example("resnet_to_networkx.py", settings_env("embedded", tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "weights: 323 nodes" in result.stdout and "coactivation:" in result.stdout
    assert not (tmp_path / "data").exists()  # nothing stored


def test_prune_your_model(tmp_path):
    """(d) IMP through gs.prune with the script's own training loop: the schedule's sparsity each round, accuracy kept,
    the saved masks reapplied to a fresh copy give theta_0 masked (the winning ticket)."""
    result = run_example("prune_your_model.py", settings_env("embedded", tmp_path), tmp_path, "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["round 0", "round 1", "round 2", "masks reapplied from masks.pt"]
    assert "sparsity 75.00% (expected 75.00%)" in lines[2]
    assert float(lines[2].rsplit("test acc ", 1)[1]) > 0.8
    assert lines[3].endswith("the ticket is theta_0 masked: True")
    assert not (tmp_path / "data").exists()  # nothing stored
