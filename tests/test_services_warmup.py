"""`graphstore services start` warms Neo4j's write path and leaves nothing behind; a failed warm-up is reported and
never fails the start (graphstore/services/neo4j_warmup.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphstore.errors import ServiceError
from graphstore.services import neo4j_dist, neo4j_server, neo4j_warmup
from graphstore.services.state import read_state
from graphstore.store.neo4j_store import Neo4jStore
from tests.servers import neo4j_params

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `graphstore` CLI of this venv, without the caller's GRAPHSTORE_* settings (plus env)."""
    script = Path(sys.executable).parent / "graphstore"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env={**clean, **(env or {})}, timeout=600, cwd=REPO
    )


def _records(store: Neo4jStore) -> dict[str, int]:
    """How many graph records, graph nodes and lane records the server holds."""
    counts = {}
    for label in ("Graph", "GraphNode", "GraphLane"):
        counts[label] = store.read(f"MATCH (n:{label}) RETURN count(n) AS n").rows[0][0]
    return counts


@pytest.mark.slow
def test_services_start_warms_up_and_leaves_no_graph(run_root: Path) -> None:
    if not neo4j_dist.is_complete(neo4j_dist.dist_dir()):
        pytest.skip("Neo4j jars are not cached yet (run `graphstore services start` once)")
    started = _cli("services", "start", "--no-postgres", "--run-dir", str(run_root))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "write path warmed up in " in started.stdout, started.stdout
        assert "Traceback" not in started.stdout + started.stderr
        state = read_state(run_root / "neo4j")
        env = {
            "GRAPHSTORE_GRAPH_STORE": state["bolt_uri"],
            "GRAPHSTORE_NEO4J_USER": state["user"],
            "GRAPHSTORE_NEO4J_PASSWORD": state["password"],
        }
        status = _cli("store", "status", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "graphs: 0 (0 incomplete)" in status.stdout, status.stdout
        assert "still being deleted" not in status.stdout
        with Neo4jStore(state["bolt_uri"], state["user"], state["password"]) as store:
            assert _records(store) == {"Graph": 0, "GraphNode": 0, "GraphLane": 0}
            assert store.pending_drops() == {"drops": 0, "nodes": 0}
            assert store.write_path == "plugin"  # the path the warm-up exercised is the one real writes take
        again = _cli("services", "start", "--no-postgres", "--run-dir", str(run_root))
        assert again.returncode == 0 and "already running" in again.stdout and "warmed up" not in again.stdout
    finally:
        _cli("services", "stop", "--purge", "--run-dir", str(run_root))


@pytest.mark.neo4j
@pytest.mark.parametrize(
    ("rounds", "budget_s", "whole", "cut"),
    [(3, 0.0, 0, True), (1, 600.0, 1, False)],
    ids=["out-of-time-cut-after-a-batch", "one-whole-round"],
)
def test_warm_up_leaves_no_graph(rounds: int, budget_s: float, whole: int, cut: bool) -> None:
    params = neo4j_params()
    done = neo4j_warmup.warm_up(params.uri, params.user, params.password, rounds=rounds, budget_s=budget_s)
    assert done.error is None and done.rounds == whole and done.cut is cut
    with Neo4jStore(params.uri, params.user, params.password) as store:
        left = [i.graph_id for i in store.list_graphs() if neo4j_warmup.WARMUP_GRAPH.match(i.graph_id)]
        assert left == []


@pytest.mark.neo4j
def test_a_warm_up_graph_left_by_a_killed_start_is_dropped_by_the_next_one() -> None:
    params = neo4j_params()
    left = neo4j_warmup.warmup_graph(nodes=10, edges=20)
    with Neo4jStore(params.uri, params.user, params.password) as store:
        store.write_graph(left)
        store._set_graph_fields(left.graph_id, {"status": "writing"})  # as a start killed mid-write leaves it
        done = neo4j_warmup.warm_up(params.uri, params.user, params.password, 600.0, rounds=0)
        assert done.error is None and done.rounds == 0
        assert store.graph_info(left.graph_id) is None
        assert store.read("MATCH (n:GraphNode {graph_id: $g}) RETURN count(n)", {"g": left.graph_id}).rows == [[0]]


@pytest.mark.neo4j
def test_a_failed_warm_up_is_reported_not_raised_and_names_no_secret() -> None:
    params = neo4j_params()
    wrong = "not-the-password-" + "x" * 12
    done = neo4j_warmup.warm_up(params.uri, params.user, wrong, 600.0)
    assert done.rounds == 0 and done.error and wrong not in done.error
    said: list[str] = []
    state = {"bolt_uri": params.uri, "user": params.user, "password": wrong}
    report = neo4j_server._warm_up(state, said.append, 7.5)
    assert report["rounds"] == 0 and report["error"] and wrong not in report["error"]
    assert any("Warm-up stopped" in line for line in said) and not any(wrong in line for line in said)
    assert any("up to 7.5 s of writing" in line for line in said)  # the budget asked for is the one used


def test_warm_up_against_no_server_is_reported_quickly() -> None:
    done = neo4j_warmup.warm_up("bolt://127.0.0.1:9", "neo4j", "some-password-123", neo4j_server.WARM_UP_S)
    assert done.rounds == 0 and done.error and "some-password-123" not in done.error
    assert done.seconds < 30


def test_warm_up_graph_ids_match_the_only_pattern_dropped() -> None:
    graph = neo4j_warmup.warmup_graph(nodes=10, edges=20)
    assert neo4j_warmup.WARMUP_GRAPH.match(graph.graph_id)
    assert not neo4j_warmup.WARMUP_GRAPH.match("graphstore-warmup-mine")
    assert graph.node_count == 10 and graph.edge_count == 20


@pytest.mark.parametrize("seconds", [-1.0, neo4j_server.MAX_WARM_UP_S + 1])
def test_a_warm_up_budget_out_of_range_is_refused_before_anything_starts(tmp_path: Path, seconds: float) -> None:
    with pytest.raises(ServiceError, match="warm-up seconds must be between 0 and 600"):
        neo4j_server.start_neo4j(tmp_path / "neo4j", warm_up_seconds=seconds)
    assert not (tmp_path / "neo4j").exists()
    refused = _cli("services", "start", "--no-postgres", "--warm-up-seconds", str(seconds), "--run-dir", str(tmp_path))
    assert refused.returncode == 2 and "--warm-up-seconds" in refused.stderr, refused.stderr
    assert not (tmp_path / "neo4j").exists()
