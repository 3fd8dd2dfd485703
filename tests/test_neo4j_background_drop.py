"""Drops retired at once and deleted in the server's background (graphstore/store/neo4j_drop.py), on the real
Neo4j with APOC: exactly the dropped graph goes, another graph sharing the store keeps every node and relationship,
a replace deletes after its write, and a drop stopped part-way or a job lost with the server is finished."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.graph import Graph
from graphstore.names import check_graph_id
from graphstore.store import neo4j_drop
from graphstore.store.base import COMPLETE, INCOMPLETE
from graphstore.store.neo4j_store import Neo4jStore
from tests.servers import neo4j_params


def _store(writers: int = 2) -> Neo4jStore:
    params = neo4j_params()
    store = Neo4jStore(params.uri, params.user, params.password, batch_size=50, writers=writers)
    assert store.background_drops, "the test server has APOC (graphstore services start installs it)"
    store.lane_min_rows = 1
    return store


def _graph(graph_id: str, n: int, m: int, seed: int) -> Graph:
    """A random weight graph with a hub (more relationships than a delete batch) and a self-loop."""
    rng = np.random.default_rng(seed)
    src = np.concatenate([rng.integers(0, n, m), np.zeros(40, dtype=np.int64), [3]])
    dst = np.concatenate([rng.integers(0, n, m), np.arange(1, 41) % n, [3]])
    graph = Graph(graph_id, "weights")
    graph.add_nodes("Neuron", np.arange(n), layer=np.arange(n) % 3)
    graph.add_edges("WEIGHT", "Neuron", "Neuron", src, dst, w=rng.standard_normal(len(src)))
    return graph


def _triples(graph: Graph) -> list[tuple[int, int, float]]:
    edges = graph.edges["WEIGHT"]
    return sorted(zip(edges.src.tolist(), edges.dst.tolist(), edges.props["w"].tolist(), strict=True))


def _counts(store: Neo4jStore, graph_id: str) -> tuple[int, int]:
    nodes = store.read("MATCH (n:GraphNode {graph_id: $g}) RETURN count(n)", {"g": graph_id}).rows[0][0]
    rels = store.read("MATCH (:GraphNode {graph_id: $g})-[r]->() RETURN count(r)", {"g": graph_id}).rows[0][0]
    return int(nodes), int(rels)


def _retired(store: Neo4jStore, graph_id: str) -> int:
    query = "MATCH (n:RetiredGraphNode {graph_id: $g}) WHERE NOT n:GraphNode RETURN count(n)"
    return int(store.read(query, {"g": graph_id}).rows[0][0])


def _tombstones(store: Neo4jStore, tomb: str) -> int:
    return int(store.read("MATCH (x:GraphTombstone {graph_id: $t}) RETURN count(x)", {"t": tomb}).rows[0][0])


def _spy_retire(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tombs: list[str] = []
    real = neo4j_drop.retire
    monkeypatch.setattr(neo4j_drop, "retire", lambda store, g: tombs.append(real(store, g)) or tombs[-1])
    return tombs


def _assert_kept(store: Neo4jStore, kept: Graph) -> None:
    assert _counts(store, kept.graph_id) == (kept.node_count, kept.edge_count)
    assert _triples(store.read_graph(kept.graph_id)) == _triples(kept)


@pytest.mark.neo4j
def test_drop_retires_at_once_and_the_background_deletes_exactly_the_graph(monkeypatch):
    tombs = _spy_retire(monkeypatch)
    with _store() as store:
        gone, kept = _graph("bg-gone", 80, 600, 1), _graph("bg-kept", 40, 250, 2)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        store.drop_graph(gone.graph_id)
        assert store.graph_info(gone.graph_id) is None and _counts(store, gone.graph_id) == (0, 0)
        assert gone.graph_id not in [g.graph_id for g in store.list_graphs()]
        (tomb,) = tombs
        assert tomb.startswith(neo4j_drop.TOMB_PREFIX)
        store.wait_for_drops(timeout=120)
        assert _retired(store, gone.graph_id) == 0 and _tombstones(store, tomb) == 0
        assert store.pending_drops() == {"drops": 0, "nodes": 0}
        _assert_kept(store, kept)
        store.write_graph(gone)  # the id is free again at once
        assert _triples(store.read_graph(gone.graph_id)) == _triples(gone)
        for graph in (gone, kept):
            store.drop_graph(graph.graph_id)
        store.wait_for_drops(timeout=120)


@pytest.mark.neo4j
def test_replace_writes_the_new_graph_first_and_deletes_the_old_one_after(monkeypatch):
    submitted: list[str | None] = []
    real_submit = neo4j_drop.submit
    with _store() as store:
        first, second = _graph("bg-replace", 60, 500, 3), _graph("bg-replace", 50, 300, 4)
        kept = _graph("bg-replace-kept", 30, 200, 5)
        for graph in (first, kept):
            store.write_graph(graph, replace=True)

        def submit(s: Neo4jStore, tomb: str, graph_id: str) -> None:
            info = s.graph_info(graph_id)
            submitted.append(info.status if info else None)
            real_submit(s, tomb, graph_id)

        monkeypatch.setattr(neo4j_drop, "submit", submit)
        store.write_graph(second, replace=True)
        assert submitted == [COMPLETE]  # the old graph's delete began once the new one was written
        store.wait_for_drops(timeout=120)
        assert _counts(store, "bg-replace") == (second.node_count, second.edge_count)
        assert _triples(store.read_graph("bg-replace")) == _triples(second) and _retired(store, "bg-replace") == 0
        _assert_kept(store, kept)
        for graph_id in ("bg-replace", kept.graph_id):
            store.drop_graph(graph_id)
        store.wait_for_drops(timeout=120)


@pytest.mark.neo4j
def test_a_drop_stopped_while_retiring_keeps_the_graph_listed_and_the_next_drop_finishes_it():
    """What an interrupted retire leaves (some nodes retired, the record marked) is finished by dropping again,
    and nothing is orphaned."""
    with _store() as store:
        gone, kept = _graph("bg-stopped", 70, 500, 6), _graph("bg-stopped-kept", 30, 200, 7)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        store.execute(
            "MATCH (n:GraphNode {graph_id: $g}) WITH n LIMIT 25 REMOVE n:$(labels(n)) SET n:RetiredGraphNode",
            {"g": gone.graph_id},
        )
        store._set_graph_fields(gone.graph_id, {"status": INCOMPLETE, "error": "being dropped"})
        assert store.graph_info(gone.graph_id).status == INCOMPLETE
        store.drop_graph(gone.graph_id)
        assert store.graph_info(gone.graph_id) is None and _counts(store, gone.graph_id) == (0, 0)
        store.wait_for_drops(timeout=120)
        assert _retired(store, gone.graph_id) == 0 and store.pending_drops()["drops"] == 0
        _assert_kept(store, kept)
        store.drop_graph(kept.graph_id)
        store.wait_for_drops(timeout=120)


@pytest.mark.neo4j
def test_a_tombstone_whose_job_was_lost_is_resumed_by_the_next_store_opened():
    """A client killed between retiring and submitting (or a server restarted mid-delete) leaves a tombstone with
    no job: opening a store starts its delete again."""
    with _store() as store:
        gone, kept = _graph("bg-lost", 60, 400, 8), _graph("bg-lost-kept", 30, 200, 9)
        for graph in (gone, kept):
            store.write_graph(graph, replace=True)
        tomb = neo4j_drop.retire(store, gone.graph_id)  # no submit: the job is lost
        assert _tombstones(store, tomb) == 1 and _retired(store, gone.graph_id) == 60
        assert _counts(store, gone.graph_id) == (0, 0) and store.graph_info(gone.graph_id) is None
    with _store() as reopened:
        reopened.wait_for_drops(timeout=120)
        assert _retired(reopened, gone.graph_id) == 0 and _tombstones(reopened, tomb) == 0
        _assert_kept(reopened, kept)
        reopened.drop_graph(kept.graph_id)
        reopened.wait_for_drops(timeout=120)


@pytest.mark.neo4j
def test_a_write_beside_a_background_drop_stores_exactly_its_graph():
    with _store() as store:
        gone, written = _graph("bg-beside-gone", 400, 6000, 10), _graph("bg-beside", 300, 4000, 11)
        store.write_graph(gone, replace=True)
        store.drop_graph(gone.graph_id)
        store.write_graph(written, replace=True)  # while the server deletes the other one
        assert _triples(store.read_graph(written.graph_id)) == _triples(written)
        store.wait_for_drops(timeout=180)
        _assert_kept(store, written)
        store.drop_graph(written.graph_id)
        store.wait_for_drops(timeout=120)


def test_tombstone_ids_are_never_user_graph_ids_and_only_they_reach_the_job_statement():
    tomb = f"{neo4j_drop.TOMB_PREFIX}{'a' * 32}"
    with pytest.raises(ValueError):
        check_graph_id(tomb)
    assert neo4j_drop.TOMB_PATTERN.fullmatch(tomb)
    with pytest.raises(ValueError, match="not a tombstone id"):
        neo4j_drop.submit(None, "x'}) DETACH DELETE n //", "g")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        neo4j_drop.submit(None, tomb, "g'}) DETACH DELETE n //")  # type: ignore[arg-type]


@pytest.mark.neo4j
def test_a_user_label_named_like_the_retired_one_is_never_taken_for_it():
    """A replace whose new graph has a label spelled like the retired one keeps every new node."""
    with _store() as store:
        store.write_graph(_graph("bg-label", 20, 50, 12), replace=True)
        graph = Graph("bg-label", "weights")
        graph.add_nodes("RetiredGraphNode", np.arange(5), layer=np.zeros(5, dtype=np.int64))
        store.write_graph(graph, replace=True)  # the old graph's delete starts after this write
        store.wait_for_drops(timeout=120)
        assert store.read_graph("bg-label").nodes["RetiredGraphNode"].keys.tolist() == list(range(5))
        assert _counts(store, "bg-label") == (5, 0)
        store.drop_graph("bg-label")
        store.wait_for_drops(timeout=120)
