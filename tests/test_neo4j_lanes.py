"""Parallel relationship writes in node-disjoint lanes and the columnar write plugin (issue 11): the schedule's
guarantees, progress kept per lane, resume after an interrupt, and the plugin path writing exactly what the
Cypher path writes - against the real Neo4j that `make test` starts (with graphstore's plugin installed)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from neo4j import exceptions as ex

from graphstore.errors import ServiceError
from graphstore.graph import Graph
from graphstore.services.write_plugin import build_jar
from graphstore.store.base import COMPLETE, Batch, covered_ranges, merge_progress, record_batch
from graphstore.store.lanes import block_pairs, schedule, split_rows
from graphstore.store.neo4j_store import Neo4jStore
from graphstore.store.neo4j_writer import byte_column
from tests.conftest import random_graph
from tests.servers import neo4j_params
from tests.test_cli import run_cli


# ---- the schedule -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 5])
def test_block_pairs_cover_every_pair_once_in_disjoint_rounds(lanes):
    rounds = block_pairs(lanes)
    pairs = [pair for rnd in rounds for pair in rnd]
    assert len(rounds) == 2 * lanes - 1 and len(pairs) == len(set(pairs)) == lanes * (2 * lanes - 1)
    for rnd in rounds:
        assert sorted(b for pair in rnd for b in pair) == list(range(2 * lanes))


@settings(max_examples=60, deadline=None)
@given(
    lanes=st.integers(1, 4),
    edges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=300),
)
def test_lanes_of_one_round_touch_disjoint_nodes(lanes, edges):
    src, dst = np.array([e[0] for e in edges]), np.array([e[1] for e in edges])
    order, segments = schedule(src, dst, lanes)
    assert sorted(order.tolist()) == list(range(len(edges)))
    assert [(s.lo, s.hi) for s in segments] == sorted((s.lo, s.hi) for s in segments)
    assert segments[0].lo == 0 and segments[-1].hi == len(edges)
    for rnd in {s.round for s in segments}:
        seen: set[int] = set()
        for seg in (s for s in segments if s.round == rnd):
            rows = order[seg.lo : seg.hi]
            nodes = set(src[rows].tolist()) | set(dst[rows].tolist())
            assert not nodes & seen
            seen |= nodes
            assert list(rows) == sorted(rows)  # a segment keeps the table's order
    again, _ = schedule(src, dst, lanes)
    assert np.array_equal(order, again)


def test_merge_progress_unions_the_recorded_ranges():
    graph_record = {"nodes": {"Neuron": 10}, "edges": {"WEIGHT": 5}}
    lane = record_batch(record_batch({}, Batch("edges", "WEIGHT", 20, 30)), Batch("edges", "WEIGHT", 0, 8))
    merged = merge_progress(graph_record, lane)
    assert covered_ranges(merged, "edges", "WEIGHT") == [(0, 8), (20, 30)] and merged["nodes"] == {"Neuron": 10}
    closed = merge_progress(merged, record_batch({}, Batch("edges", "WEIGHT", 8, 20)))
    assert closed["edges"]["WEIGHT"] == 30 and "ahead" not in closed


def test_byte_columns_keep_the_types_the_cypher_path_stores():
    assert byte_column(np.array([1.5, -2.0], np.float32)) == b"d" + np.array([1.5, -2.0], "<f8").tobytes()
    assert byte_column(np.array([3, -4], np.int32)) == b"l" + np.array([3, -4], "<i8").tobytes()
    assert byte_column(np.array([True, False])) == b"b\x01\x00"
    assert byte_column(np.array(["a", None], dtype=object)) == ["a", None]


def _driver_error(code: str) -> ex.Neo4jError:
    """The error the driver raises for a server failure with this code."""
    return ex.Neo4jError._hydrate_neo4j(code=code, message="from the test")


def test_only_deadlocks_are_retried():
    from graphstore.store.neo4j_lanes import retry_deadlocks

    calls = []

    def deadlock_twice() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise _driver_error("Neo.TransientError.Transaction.DeadlockDetected")
        return True

    assert retry_deadlocks(deadlock_twice) is True and len(calls) == 3

    def other_transient() -> bool:
        raise _driver_error("Neo.TransientError.General.MemoryPoolOutOfMemoryError")

    with pytest.raises(ex.TransientError):
        retry_deadlocks(other_transient)


# ---- against the server -----------------------------------------------------------------------------------------
def _store(writers: int = 2, batch_size: int = 50, use_plugin: bool = True) -> Neo4jStore:
    """The synchronous drop (the path without APOC) is checked here; test_neo4j_background_drop.py the other."""
    params = neo4j_params()
    store = Neo4jStore(
        params.uri,
        params.user,
        params.password,
        batch_size=batch_size,
        use_plugin=use_plugin,
        writers=writers,
        background_drops=False,
    )
    store.lane_min_rows = 1
    return store


def _triples(graph: Graph) -> list[tuple[int, int, float]]:
    edges = graph.edges["WEIGHT"]
    return sorted(zip(edges.src.tolist(), edges.dst.tolist(), edges.props["w"].tolist(), strict=True))


def _lane_nodes(store: Neo4jStore, graph_id: str) -> int:
    return int(store.execute("MATCH (l:GraphLane {graph_id: $g}) RETURN count(l)", {"g": graph_id}).rows[0][0])


@pytest.mark.neo4j
def test_the_local_server_has_the_write_plugin():
    with _store() as store:
        assert store.write_path == "plugin"


@pytest.mark.neo4j
@pytest.mark.parametrize("writers", [2, 3])
def test_lanes_write_exactly_the_graph(writers):
    graph = random_graph(f"lanes-{writers}", 120, 2_000, seed=writers)
    with _store(writers) as store:
        store.write_graph(graph, replace=True)
        info = store.graph_info(graph.graph_id)
        assert info.status == COMPLETE and info.progress["lanes"] == {"nodes/Neuron": writers, "edges/WEIGHT": writers}
        assert covered_ranges(info.progress, "edges", "WEIGHT") == [(0, 2_000)]
        assert _lane_nodes(store, graph.graph_id) == 0
        back = store.read_graph(graph.graph_id)
        assert _triples(back) == _triples(graph)
        store.drop_graph(graph.graph_id)


@pytest.mark.neo4j
def test_interrupted_lanes_resume_in_the_recorded_order_without_duplicates():
    graph = random_graph("lanes-stop", 100, 1_500, seed=11)

    def stop_after_some_edges(step: str, done: int, total: int) -> None:
        if step.startswith("edges") and done >= 100 + 400:
            raise KeyboardInterrupt

    with _store(writers=2) as store:
        with pytest.raises(KeyboardInterrupt):
            store.write_graph(graph, replace=True, on_progress=stop_after_some_edges)
        assert store.graph_info(graph.graph_id).status != COMPLETE
        assert _lane_nodes(store, graph.graph_id) == 2
        lane_progress = store._checked_progress(graph.graph_id, {})
        done = covered_ranges(lane_progress, "edges", "WEIGHT")
        assert done and sum(hi - lo for lo, hi in done) >= 400
        lo, hi = done[0][0], min(done[0][0] + 50, done[0][1])  # a committed lane batch, replayed
        order, segments = schedule(graph.edges["WEIGHT"].src, graph.edges["WEIGHT"].dst, 2)
        lane = next(s.lane for s in segments if s.lo <= lo < s.hi)
        rows = graph.edges["WEIGHT"].take(order[lo:hi])
        assert store._write_edges(graph, rows, Batch("edges", "WEIGHT", lo, hi), lane) is False
    with _store(writers=3) as other:  # another writer count: the recorded lanes (2) keep the rows in place
        report = other.write_graph(graph, resume=True)
        assert report.resumed and other.graph_info(graph.graph_id).status == COMPLETE
        assert _triples(other.read_graph(graph.graph_id)) == _triples(graph)
        other.drop_graph(graph.graph_id)
        assert _lane_nodes(other, graph.graph_id) == 0


@pytest.mark.neo4j
def test_interrupted_node_lanes_resume_without_duplicates():
    graph = random_graph("lanes-node-stop", 300, 400, seed=5)

    def stop_after_some_nodes(step: str, done: int, total: int) -> None:
        if step.startswith("nodes") and done >= 100:
            raise KeyboardInterrupt

    with _store(writers=2) as store:
        with pytest.raises(KeyboardInterrupt):
            store.write_graph(graph, replace=True, on_progress=stop_after_some_nodes)
        lane_progress = store._checked_progress(graph.graph_id, {})
        done = covered_ranges(lane_progress, "nodes", "Neuron")
        assert 100 <= sum(hi - lo for lo, hi in done) < 300 and not covered_ranges(lane_progress, "edges", "WEIGHT")
        assert store.graph_info(graph.graph_id).progress["lanes"] == {"nodes/Neuron": 2}
    with _store(writers=3) as other:
        assert other.write_graph(graph, resume=True).resumed
        keys = other.execute("MATCH (n:Neuron {graph_id: $g}) RETURN n.key ORDER BY n.key", {"g": graph.graph_id})
        assert [r[0] for r in keys.rows] == list(range(300))
        assert _triples(other.read_graph(graph.graph_id)) == _triples(graph)
        other.drop_graph(graph.graph_id)


@pytest.mark.neo4j
def test_lanes_recorded_under_the_older_key_still_order_a_resume():
    progress = {"edges": {"WEIGHT": 100}, "lanes": {"WEIGHT": 2}}  # an edge table's lanes before node lanes
    with _store(writers=3) as store:
        assert store._lanes_for("any", "edges", "WEIGHT", 2_000, progress) == 2
        assert store._lanes_for("any", "nodes", "WEIGHT", 2_000, {"nodes": {"WEIGHT": 100}}) == 1


def test_split_rows_covers_a_table_in_nearly_equal_ranges():
    for n, lanes in ((10, 3), (7, 2), (2, 4), (200_000, 2)):
        segments = split_rows(n, lanes)
        assert [(s.lo, s.hi) for s in segments] == sorted((s.lo, s.hi) for s in segments)
        assert segments[0].lo == 0 and segments[-1].hi == n
        assert all(a.hi == b.lo for a, b in zip(segments, segments[1:], strict=False))
        assert max(s.hi - s.lo for s in segments) - min(s.hi - s.lo for s in segments) <= 1
        assert {s.round for s in segments} == {0} and len({s.lane for s in segments}) == len(segments)


@pytest.mark.neo4j
def test_plugin_and_cypher_paths_store_the_same_values():
    graph = Graph("typed", "weights")
    graph.add_nodes(
        "Neuron",
        np.arange(5),
        layer=np.array(["a", "b", None, "d", "e"], dtype=object),
        index=np.arange(5, dtype=np.int32),
        bias=np.linspace(0, 1, 5).astype(np.float32),
        alive=np.array([True, False, True, True, False]),
    )
    graph.add_edges(
        "WEIGHT",
        "Neuron",
        "Neuron",
        [0, 1, 2, 3],
        [1, 2, 3, 4],
        w=[0.5, -1.0, 2.0, 0.0],
        kept=[True, False, True, True],
    )
    stored = {}
    for use_plugin in (True, False):
        with _store(writers=1, use_plugin=use_plugin) as store:
            assert store.write_path == ("plugin" if use_plugin else "cypher")
            store.write_graph(graph, replace=True)
            stored[use_plugin] = store.execute(
                "MATCH (n:Neuron {graph_id: 'typed'}) OPTIONAL MATCH (n)-[r:WEIGHT]->(m) "
                "RETURN n.key, properties(n), m.key, properties(r) ORDER BY n.key"
            ).rows
            store.drop_graph("typed")
    assert stored[True] == stored[False]
    assert stored[True][0][1] == {
        "uid": "typed:0",
        "graph_id": "typed",
        "key": 0,
        "layer": "a",
        "index": 0,
        "bias": 0.0,
        "alive": True,
    }
    assert "layer" not in stored[True][2][1]


def _counts(store: Neo4jStore, graph_id: str) -> tuple[int, int]:
    nodes = store.execute("MATCH (n:GraphNode {graph_id: $g}) RETURN count(n)", {"g": graph_id}).rows[0][0]
    rels = store.execute("MATCH (:GraphNode {graph_id: $g})-[r]->() RETURN count(r)", {"g": graph_id}).rows[0][0]
    return int(nodes), int(rels)


def _hub_graph(graph_id: str) -> Graph:
    """A random graph plus a hub whose out- and in-relationships outnumber a delete batch, and a self-loop."""
    graph = random_graph(graph_id, 60, 500, seed=3)
    edges = graph.edges["WEIGHT"]
    src = np.concatenate([edges.src, np.zeros(40, dtype=np.int64), np.arange(1, 31), [7]])
    dst = np.concatenate([edges.dst, np.arange(10, 50), np.zeros(30, dtype=np.int64), [7]])
    hub = Graph(graph_id, "weights")
    hub.add_nodes("Neuron", graph.nodes["Neuron"].keys, layer=graph.nodes["Neuron"].props["layer"])
    hub.add_edges("WEIGHT", "Neuron", "Neuron", src, dst, w=np.linspace(-1, 1, len(src)))
    return hub


@pytest.mark.neo4j
@pytest.mark.parametrize("writers", [1, 2])  # one writer; halves in two lanes after the cut between them
def test_drop_deletes_exactly_the_graph(monkeypatch, writers):
    monkeypatch.setattr("graphstore.store.neo4j_store.DELETE_BATCH", 7)  # many transactions, a hub split across them
    with _store(writers=writers) as store:
        gone, kept = _hub_graph(f"drop-hub-{writers}"), random_graph(f"drop-kept-{writers}", 30, 200, seed=4)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        assert _counts(store, gone.graph_id) == (60, 571)
        store.drop_graph(gone.graph_id)
        assert _counts(store, gone.graph_id) == (0, 0) and store.graph_info(gone.graph_id) is None
        assert _counts(store, kept.graph_id) == (30, 200)
        assert _triples(store.read_graph(kept.graph_id)) == _triples(kept)
        store.drop_graph(kept.graph_id)


@pytest.mark.neo4j
def test_an_interrupted_drop_in_halves_is_finished_by_the_next(monkeypatch):
    """A drop stopped after the cut (one half's lane failing) leaves the graph marked, never complete; dropping
    again deletes the rest, and a graph sharing the store keeps every node and relationship."""
    monkeypatch.setattr("graphstore.store.neo4j_store.DELETE_BATCH", 7)
    with _store(writers=2) as store:
        gone, kept = _hub_graph("drop-cut"), random_graph("drop-cut-kept", 30, 200, seed=5)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        run_delete = store._run_delete

        def fail_low_half(statements, params):
            if params.get("low") is True:
                raise KeyboardInterrupt
            return run_delete(statements, params)

        monkeypatch.setattr(store, "_run_delete", fail_low_half)
        with pytest.raises(KeyboardInterrupt):
            store.drop_graph(gone.graph_id)
        info = store.graph_info(gone.graph_id)
        assert info is not None and info.status != COMPLETE and "being dropped" in info.error
        nodes, rels = _counts(store, gone.graph_id)
        assert 0 < nodes < 60 and rels < 571
        monkeypatch.setattr(store, "_run_delete", run_delete)
        store.drop_graph(gone.graph_id)
        assert _counts(store, gone.graph_id) == (0, 0) and store.graph_info(gone.graph_id) is None
        assert _counts(store, kept.graph_id) == (30, 200)
        assert _triples(store.read_graph(kept.graph_id)) == _triples(kept)
        store.drop_graph(kept.graph_id)


@pytest.mark.neo4j
def test_a_drop_lane_chosen_as_deadlock_victim_is_finished_by_one_writer(monkeypatch):
    with _store(writers=2) as store:
        gone, kept = _hub_graph("drop-victim"), random_graph("drop-victim-kept", 30, 200, seed=9)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        run_delete = store._run_delete

        def victim(statements, params):
            if params.get("low") is True:
                raise _driver_error("Neo.TransientError.Transaction.DeadlockDetected")
            return run_delete(statements, params)

        monkeypatch.setattr(store, "_run_delete", victim)
        store.drop_graph(gone.graph_id)
        assert _counts(store, gone.graph_id) == (0, 0) and store.graph_info(gone.graph_id) is None
        assert _counts(store, kept.graph_id) == (30, 200)
        store.drop_graph(kept.graph_id)


@pytest.mark.neo4j
def test_replace_deletes_in_halves_and_writes_exactly_the_graph(monkeypatch):
    with _store(writers=2) as store:
        first, second = random_graph("drop-replace", 50, 400, seed=6), random_graph("drop-replace", 40, 300, seed=7)
        kept = random_graph("drop-replace-kept", 30, 200, seed=8)
        for graph in (first, kept):
            store.write_graph(graph, replace=True)
        halves = []
        monkeypatch.setattr(
            store, "_delete_in_halves", lambda g, real=store._delete_in_halves: (halves.append(g), real(g))
        )
        store.write_graph(second, replace=True)
        assert halves == ["drop-replace"]
        assert _counts(store, "drop-replace") == (40, 300) and _triples(store.read_graph("drop-replace")) == _triples(
            second
        )
        assert _counts(store, kept.graph_id) == (30, 200)
        for graph_id in ("drop-replace", kept.graph_id):
            store.drop_graph(graph_id)


# ---- the plugin's build ------------------------------------------------------------------------------------------
@pytest.mark.neo4j
def test_services_plugin_builds_a_jar_for_a_server_of_ones_own(tmp_path):
    result = run_cli(tmp_path, "services", "plugin", "--out", str(tmp_path / "plugins"))
    assert result.returncode == 0, result.stderr
    jars = list((tmp_path / "plugins").glob("graphstore-write-*.jar"))
    assert len(jars) == 1 and "Restart the server" in result.stdout
    assert "graphstore/procedures/GraphstoreWrite.class" in zipfile.ZipFile(jars[0]).namelist()


def test_plugin_build_without_a_jdk_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ServiceError) as info:
        build_jar(tmp_path, tmp_path / "plugin.jar")
    assert "javac" in info.value.message and "JDK" in info.value.hint
